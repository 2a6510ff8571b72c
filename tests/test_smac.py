"""The smac family on SMAX: protocol, new units (colossus, medivac), outcome and reward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxmarl.environments.smax.heuristic_enemy import get_heuristic_policy_initial_state
from jaxmarl.environments.smax.smax_env import SMAX, Scenario

from lica.envs import make, smac
from lica.envs.smax_units import (
    COLOSSUS,
    COLOSSUS_SPLASH,
    ENERGY_REGEN,
    HP_PER_ENERGY,
    MARAUDER,
    MARINE,
    MEDIVAC,
    MEDIVAC_HEAL_RATE,
    STALKER,
    ZEALOT,
    ZERGLING,
    HeuristicEnemyUnitSMAX,
    UnitSMAX,
)
from lica.tools import smac_scripted

KEY = jax.random.PRNGKey(0)
DT = 1.0 / 16  # SMAX's world step
COLOSSUS_VS_LIGHT = 30.0  # StarCraft II: 2 x (10 + 5 vs light)


def scenario(allies, enemies):
    return Scenario(jnp.array(allies + enemies, dtype=jnp.uint8), len(allies), len(enemies), False, False)


def staged(sim, positions, health=None, energy=None):
    """A fresh state of ``sim`` with the units at ``positions`` (and given health / energy)."""
    _, state = sim.reset(KEY)
    state = state.replace(unit_positions=jnp.array(positions, dtype=jnp.float32))
    if health is not None:
        state = state.replace(unit_health=jnp.array(health, dtype=jnp.float32))
    if energy is not None:
        state = state.replace(unit_energy=jnp.array(energy, dtype=jnp.float32))
    return state


def world_steps(sim, state, attack_actions, n=1):
    """``n`` world steps (1/16 s each) with no movement and the given attack actions."""
    actions = (jnp.zeros((sim.num_agents, 2)), jnp.array(attack_actions, dtype=jnp.int32))
    step = jax.jit(lambda s, k: sim._update_dead_agents(sim._world_step(k, s, actions)))
    for key in jax.random.split(KEY, n):
        state = step(state, key)
    return state


@pytest.fixture(scope="module")
def envs():
    return {m: smac.make(m) for m in ("2s3z", "1c3s5z", "2c_vs_64zg", "MMM2")}


@pytest.fixture(scope="module")
def jitted(envs):
    """``(reset, step)`` compiled once per map."""
    return {m: (jax.jit(env.reset), jax.jit(env.step)) for m, env in envs.items()}


def test_registry_and_args():
    assert set(smac.PAPER_MAPS) <= set(smac.TASKS)
    assert {"3m", "3s5z", "6h_vs_8z"} <= set(smac.TASKS)
    limits = {"2s3z": 120, "1c3s5z": 180, "5m_vs_6m": 70, "2c_vs_64zg": 400, "MMM2": 180, "3s5z_vs_3s6z": 170}
    for name, limit in limits.items():
        env = make(f"smac:{name}")
        assert env.spec.episode_limit == limit and env.sim.max_steps >= limit
    assert make("smac:2s3z", episode_limit=50).spec.episode_limit == 50
    with pytest.raises(ValueError, match="bogus"):
        make("smac:2s3z", bogus=1)
    with pytest.raises(ValueError):
        smac.make("4z_vs_nothing")


@pytest.mark.parametrize("name, n_agents", [("2s3z", 5), ("1c3s5z", 9), ("2c_vs_64zg", 2), ("MMM2", 10)])
def test_protocol_shapes(envs, jitted, name, n_agents):
    env, (reset, step) = envs[name], jitted[name]
    spec = env.spec
    assert spec.n_agents == n_agents and spec.info_keys == ("won",)
    obs, state, avail, env_state = reset(KEY)
    assert obs.shape == (n_agents, spec.obs_dim) and state.shape == (spec.state_dim,)
    assert avail.shape == (n_agents, spec.n_actions) and avail.dtype == jnp.float32
    assert np.all(avail[:, 4] == 1)  # stop
    assert np.all((np.asarray(state) >= 0) & (np.asarray(state) <= 1))
    actions = jnp.full((n_agents,), 4, jnp.int32)
    obs, state, avail, reward, terminated, info, env_state = step(KEY, env_state, actions)
    assert obs.shape == (n_agents, spec.obs_dim) and state.shape == (spec.state_dim,)
    assert avail.shape == (n_agents, spec.n_actions)
    assert reward.shape == () and terminated.shape == () and set(info) == {"won"}
    assert not bool(terminated)


def test_colossus_hits_every_unit_in_the_area_and_none_outside():
    sim = UnitSMAX(scenario=scenario([COLOSSUS, MARINE], [ZERGLING] * 6))
    target = np.array([14.0, 16.0])
    offsets = [0.0, 0.5, COLOSSUS_SPLASH - 0.02, COLOSSUS_SPLASH + 0.05, 2.0, 3.0]  # distances from the target
    enemies = [target + d * np.array([np.cos(a), np.sin(a)]) for d, a in zip(offsets, np.linspace(0, 5, 6))]
    ally_marine = target + [0.0, 0.3]  # no friendly fire
    state = staged(sim, [[8.0, 16.0], ally_marine] + enemies)
    before = np.asarray(state.unit_health)
    after = np.asarray(world_steps(sim, state, [5 + 0] + [0] * 7).unit_health)  # colossus attacks enemy 0
    lost = before - after
    np.testing.assert_allclose(lost[2:5], COLOSSUS_VS_LIGHT)  # the target and the 2 others in the area
    np.testing.assert_allclose(lost[5:], 0.0)  # the 3 outside
    np.testing.assert_allclose(lost[:2], 0.0)  # the colossus' own side


def test_colossus_splash_reaches_no_flying_unit_and_needs_range():
    sim = UnitSMAX(scenario=scenario([COLOSSUS], [ZERGLING, MEDIVAC]))
    state = staged(sim, [[8.0, 16.0], [14.0, 16.0], [14.2, 16.0]])
    lost = np.asarray(state.unit_health - world_steps(sim, state, [5, 0, 0]).unit_health)
    np.testing.assert_allclose(lost, [0.0, COLOSSUS_VS_LIGHT, 0.0])
    far = staged(sim, [[2.0, 16.0], [14.0, 16.0], [14.2, 16.0]])  # out of range: nothing
    np.testing.assert_allclose(world_steps(sim, far, [5, 0, 0]).unit_health, far.unit_health)


def test_colossus_bonus_only_against_light_and_its_armor_only_on_the_hull():
    sim = UnitSMAX(scenario=scenario([COLOSSUS, COLOSSUS], [ZERGLING, STALKER, COLOSSUS]))
    positions = [[10.0, 16.0], [10.0, 12.0], [11.5, 16.0], [14.0, 12.0], [10.0, 14.0]]
    # enemy attack slot k addresses ally 1 - k: the zergling's 5 + 1 hits ally 0
    full = staged(sim, positions)
    lost = full.unit_health - world_steps(sim, full, [5 + 0, 5 + 1, 5 + 1, 0, 0]).unit_health
    np.testing.assert_allclose(lost[2:4], [COLOSSUS_VS_LIGHT, 20.0])  # zergling is light, stalker is not
    np.testing.assert_allclose(lost[0], 5.0)  # the zergling's 5 land on shields: no armor
    hull = staged(sim, positions, health=[150.0, 200.0, 35.0, 160.0, 100.0])  # colossus shields gone
    lost = hull.unit_health - world_steps(sim, hull, [0, 5 + 2, 5 + 1, 0, 0]).unit_health
    np.testing.assert_allclose(lost[0], 5.0 - 1.0)  # armor 1 against the zergling's hit
    np.testing.assert_allclose(lost[4], 20.0 - 2 * 1.0)  # colossus on colossus: armor on each lance


@pytest.fixture(scope="module")
def medic():
    """Allies: medivac, marine, marine, colossus; enemies: marine, marauder and two far-off marines
    (as in SMAC, a medivac can address allies 0 .. n_enemies - 1 only)."""
    sim = UnitSMAX(scenario=scenario([MEDIVAC, MARINE, MARINE, COLOSSUS], [MARINE, MARAUDER, MARINE, MARINE]))
    positions = [[10.0, 16.0], [11.0, 16.0], [10.0, 17.0], [9.0, 16.0], [10.5, 15.5], [11.0, 15.0],
                 [30.0, 4.0], [30.0, 6.0]]
    return sim, positions


def test_heal_restores_health_spends_energy_and_caps_at_max(medic):
    sim, positions = medic
    state = staged(sim, positions, health=[150, 20, 44.5, 350, 45, 125, 45, 45])
    heal_per_step = MEDIVAC_HEAL_RATE * DT
    after = world_steps(sim, state, [5 + 1, 0, 0, 0, 0, 0, 0, 0], n=4)  # heal marine 1 for 4 world steps
    np.testing.assert_allclose(after.unit_health[1], 20 + 4 * heal_per_step, rtol=1e-5)
    spent = 4 * heal_per_step / HP_PER_ENERGY
    np.testing.assert_allclose(after.unit_energy[0], 50 - spent + 4 * ENERGY_REGEN * DT, rtol=1e-5)
    after = world_steps(sim, state, [5 + 2, 0, 0, 0, 0, 0, 0, 0], n=4)  # marine 2 lacks only 0.5 hp
    assert float(after.unit_health[2]) == pytest.approx(45.0)
    np.testing.assert_allclose(after.unit_energy[0], 50 - 0.5 / HP_PER_ENERGY + 4 * ENERGY_REGEN * DT, rtol=1e-5)
    broke = staged(sim, positions, health=[150, 20, 45, 350, 45, 125, 45, 45], energy=[0.1] + [0] * 7)
    after = world_steps(sim, broke, [5 + 1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(after.unit_health[1], 20 + 0.1 * HP_PER_ENERGY, rtol=1e-5)  # energy-bound


def test_medivac_targets_only_biological_allies_in_range(medic):
    sim, positions = medic
    state = staged(sim, positions, health=[100, 20, 20, 100, 45, 125, 45, 45])
    avail = sim.get_avail_actions(state)["ally_0"]
    np.testing.assert_array_equal(avail[5:], [0, 1, 1, 0])  # not itself, not the (mechanical) colossus
    after = world_steps(sim, state, [5 + 3, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(after.unit_health, state.unit_health)
    far = staged(sim, [[10.0, 16.0], [16.0, 16.0], [10.0, 17.0], [9.0, 16.0]] + [[30.0, 30.0 - i] for i in range(4)])
    np.testing.assert_array_equal(sim.get_avail_actions(far)["ally_0"][5:], [0, 0, 1, 0])  # ally 1 out of range


def test_medivac_cannot_damage_anyone(medic):
    sim, positions = medic
    state = staged(sim, positions, health=[100, 20, 20, 100, 20, 50, 20, 20])  # enemy marine right next to it
    assert sim.unit_type_attacks[MEDIVAC] == 0
    for action in range(5, 5 + sim.num_enemies):
        after = world_steps(sim, state, [action, 0, 0, 0, 0, 0, 0, 0], n=3)
        np.testing.assert_allclose(after.unit_health[4:], state.unit_health[4:])  # no enemy loses health
        assert np.all(np.asarray(after.unit_health[:4]) >= np.asarray(state.unit_health[:4]))


def test_air_units_only_hit_by_anti_air(medic):
    sim, positions = medic
    state = staged(sim, positions)
    targets = sim.get_avail_actions(state)
    # enemy action 5 + k addresses ally n_allies - 1 - k, so the medivac (ally 0) is slot 3
    assert targets["enemy_0"][5 + 3] == 1 and targets["enemy_1"][5 + 3] == 0  # marine yes, marauder no
    after = world_steps(sim, state, [0, 0, 0, 0, 5 + 3, 5 + 3, 0, 0])
    np.testing.assert_allclose(after.unit_health[0], 150 - (sim.unit_type_attacks[MARINE] - 1))  # armor 1


def test_heuristic_enemy_medivac_heals_and_marauder_skips_air():
    env = HeuristicEnemyUnitSMAX(scenario=scenario([MEDIVAC, MARINE], [MARAUDER, MEDIVAC, MARINE]))
    sim = env._env
    # ally medivac is nearest to the enemy marauder, the ally marine is in its range too
    positions = [[20.0, 16.0], [17.0, 16.0], [21.0, 16.0], [23.0, 18.0], [23.0, 16.5]]
    state = staged(sim, positions, health=[150, 45, 125, 150, 20])
    obs = sim.get_obs_unit_list(state)
    enemy_obs = jnp.stack([obs[a] for a in env.enemy_agents])
    policy = jax.tree.map(lambda *x: jnp.stack(x), *[get_heuristic_policy_initial_state()] * 3)
    actions, _ = jax.jit(env.get_enemy_actions)(KEY, policy, enemy_obs)
    assert int(actions["enemy_0"]) == 5 + 0  # the marauder attacks the marine (ally 1 = slot 0), not the medivac
    heal = int(actions["enemy_1"])
    assert heal >= 5
    acts = jnp.array([4, 4] + [int(actions[a]) for a in env.enemy_agents])
    after = world_steps(sim, state, acts)
    assert float(after.unit_health[4]) > 20  # the injured enemy marine was healed
    assert float(after.unit_health[1]) < 45  # the marauder hit the ally marine


def test_heuristic_enemy_skips_only_what_changes_no_action(monkeypatch):
    """Where the scenario's units cannot fly or heal, the heuristic skips hiding flying units and
    the medivac's action; its actions are those of the full computation."""
    env = HeuristicEnemyUnitSMAX(scenario=scenario([COLOSSUS, MARINE], [ZERGLING] * 4 + [MARAUDER]))
    sim = env._env
    healer, flying, lacks_anti_air = sim.unit_type_is_healer, sim.unit_type_flying, ~sim.unit_type_anti_air
    assert not sim.may_be(1, healer) and not sim.may_be(0, flying) and sim.may_be(1, lacks_anti_air)
    assert UnitSMAX(scenario=smac.SCENARIOS["MMM2"]).may_be(1, healer)
    assert UnitSMAX(scenario=None).may_be(1, healer)  # types not fixed: nothing skipped
    keys = jax.random.split(KEY, 64)
    states = jax.vmap(lambda k: staged(sim, jax.random.uniform(k, (7, 2), minval=10.0, maxval=22.0)))(keys)
    enemy_obs = jax.vmap(lambda st: jnp.stack([sim.get_obs_unit_list(st)[a] for a in env.enemy_agents]))(states)
    policy = jax.tree.map(lambda *x: jnp.stack(x), *[get_heuristic_policy_initial_state()] * 5)
    act = jax.vmap(lambda k, o: env.get_enemy_actions(k, policy, o)[0])
    skipped = act(keys, enemy_obs)
    monkeypatch.setattr(UnitSMAX, "may_be", lambda self, team, flags: True)
    full = act(keys, enemy_obs)
    assert all(np.array_equal(skipped[a], full[a]) for a in env.enemy_agents)
    assert len({int(x) for a in env.enemy_agents for x in full[a]}) > 2  # moves and attacks, not one action


@pytest.mark.parametrize("name", ["2c_vs_64zg", "MMM2"])
def test_fast_observations_and_collisions_equal_smax_per_pair_ones(name):
    """The all-pairs-at-once observations and collisions give SMAX's numbers (SMAX's own
    per-pair code, with our readiness feature) on scattered, partly dead, acting units."""
    sim = UnitSMAX(scenario=smac.SCENARIOS[name])
    n = sim.num_agents
    keys = jax.random.split(KEY, 5)
    state = sim.reset(keys[0])[1].replace(
        unit_positions=10.0 + jax.random.uniform(keys[1], (n, 2), maxval=10.0),
        unit_alive=jax.random.uniform(keys[2], (n,)) > 0.2,
        prev_movement_actions=jax.random.normal(keys[3], (n, 2)),
        prev_attack_actions=jax.random.randint(keys[4], (n,), 0, 10))
    fast = jax.jit(sim.get_obs_unit_list)(state)
    reference = jax.jit(lambda s: SMAX.get_obs_unit_list(sim, s))(state)
    assert np.count_nonzero(fast["ally_0"]) > 0.3 * fast["ally_0"].size  # most units are in sight
    for agent in sim.agents:
        np.testing.assert_allclose(fast[agent], reference[agent], atol=1e-6)
    # where the enemies are played elsewhere (HeuristicEnemyUnitSMAX), the allies' alone: the
    # same rows, to the bit
    allies_only = UnitSMAX(scenario=smac.SCENARIOS[name], allies_only=True)
    avail = jax.jit(sim.get_avail_actions)(state)
    for full, part in [(fast, jax.jit(allies_only.get_obs)(state)),
                       (avail, jax.jit(allies_only.get_avail_actions)(state))]:
        assert list(part) == sim.agents[: sim.num_allies]
        for agent in part:
            np.testing.assert_array_equal(part[agent], full[agent])
    if name == "2c_vs_64zg":  # no flying units: SMAX's own collisions apply unchanged
        np.testing.assert_allclose(sim._push_units_away(state).unit_positions,
                                   SMAX._push_units_away(sim, state).unit_positions, atol=1e-5)


def test_won_and_termination(envs, jitted):
    env, (_, step) = envs["2s3z"], jitted["2s3z"]
    _, _, _, es = env.reset(KEY)
    allies = np.asarray(es.state.unit_positions[:5])
    positions = np.concatenate([allies, allies + [1.0, 0.0]])
    health = jnp.concatenate([es.state.unit_health[:5], jnp.full((5,), 0.1)])
    es = es.replace(state=es.state.replace(unit_positions=jnp.array(positions), unit_health=health))
    attack = jnp.arange(5, 10)  # ally i attacks enemy i, right next to it
    *_, reward, terminated, info, es = step(KEY, es, attack)
    assert bool(terminated) and float(info["won"]) == 1.0
    max_reward = 5 * 10 + 200 + float(jnp.sum(env.sim.unit_type_health[es.state.unit_types[5:]]))
    assert float(reward) == pytest.approx(20 * (5 * 0.1 + 5 * 10 + 200) / max_reward, rel=1e-5)
    *_, reward, terminated, info, _ = step(KEY, es, jnp.full((5,), 4, jnp.int32))
    assert bool(terminated) and float(info["won"]) == 0.0 and float(reward) == 0.0  # reported once


def test_no_termination_on_time_out(envs, jitted):
    env, (_, step) = envs["2s3z"], jitted["2s3z"]
    _, _, _, es = env.reset(KEY)
    for t in (env.spec.episode_limit - 1, env.spec.episode_limit, 10 * env.spec.episode_limit):
        late = es.replace(state=es.state.replace(step=jnp.array(t)))
        *_, terminated, info, _ = step(KEY, late, jnp.full((5,), 4, jnp.int32))
        assert not bool(terminated) and float(info["won"]) == 0.0


def test_random_policy_rarely_wins_2s3z_and_focus_fire_beats_it(envs):
    env = envs["2s3z"]
    random, focus = (smac_scripted.policies(env)[name] for name in ("random", "focus"))
    mean_return, win_rate, _ = smac_scripted.evaluate(env, random, 64)
    print(f"2s3z uniform random policy: win rate {win_rate:.3f}, mean return {mean_return:.2f}")
    assert win_rate <= 0.1
    assert 0.0 < mean_return < 20.0
    # focus fire (each unit shoots the weakest enemy in range) wins this symmetric map
    focus_return, focus_win_rate, _ = smac_scripted.evaluate(env, focus, 16)
    assert focus_win_rate >= 0.5 and focus_return > 2 * mean_return
    # the same 16 battles' worth, 4 back to back in each of 4 environments: each new battle
    # starts fresh (a battle resumed from a finished one could not be won)
    _, back_to_back_win_rate, battles = smac_scripted.evaluate(env, focus, 16, n_envs=4)
    assert battles == 16 and back_to_back_win_rate >= 0.5


def test_render(envs, jitted, tmp_path):
    env, (_, step) = envs["MMM2"], jitted["MMM2"]
    _, _, _, es = env.reset(KEY)
    states = [es]
    for key in jax.random.split(KEY, 3):
        *_, es = step(key, es, jnp.full((10,), 4, jnp.int32))
        states.append(es)
    path = tmp_path / "mmm2.gif"
    env.render(states, str(path))
    assert path.stat().st_size > 0


def test_state_last_action_appends_every_agents_last_action_one_hot():
    plain, with_actions = make("smac:3m"), make("smac:3m", state_last_action=True)
    n, a = plain.spec.n_agents, plain.spec.n_actions
    assert with_actions.spec.state_dim == plain.spec.state_dim + n * a
    _, state0, _, env_state = with_actions.reset(KEY)
    _, plain0, _, _ = plain.reset(KEY)
    np.testing.assert_array_equal(state0[: plain.spec.state_dim], plain0)
    assert not state0[plain.spec.state_dim:].any()  # no action yet
    actions = jnp.array([4, 0, 5])
    _, state1, *_ = with_actions.step(KEY, env_state, actions)
    np.testing.assert_array_equal(state1[plain.spec.state_dim:].reshape(n, a), jax.nn.one_hot(actions, a))


def test_attack_orders_let_a_zealot_walk_to_a_target_within_6_and_strike_it():
    """SMAC's interface (``attack_orders``): an enemy 4 away, beyond a zealot's reach of 2, can be
    ordered attacked; the zealot walks at it and strikes once in reach. SMAX's interface neither
    offers the order nor moves the zealot."""
    positions = [[10.0, 16.0], [14.0, 16.0], [14.0, 30.0]]  # zealot; its target 4 east; a far enemy
    for orders in (False, True):
        sim = UnitSMAX(scenario=scenario([ZEALOT], [MARINE, MARINE]), attack_orders=orders)
        state = staged(sim, positions)
        avail = np.asarray(sim.get_avail_actions(state)["ally_0"])
        assert avail[5] == orders and avail[6] == 0  # the far enemy (14 away) never
        after = world_steps(sim, state, [5, 0, 0], n=16)  # 1 s of ordering an attack on enemy 0
        walked = float(after.unit_positions[0, 0] - state.unit_positions[0, 0])
        struck = float(state.unit_health[1] - after.unit_health[1])
        if orders:  # it stops within one world step's walk (3.15 / 16) of being in reach, then strikes
            assert 2.0 < walked < 2.0 + 3.15 / 16 and struck > 0
            np.testing.assert_allclose(after.unit_positions[0, 1], 16.0, atol=1e-5)
        else:
            assert walked == 0.0 and struck == 0.0
        np.testing.assert_allclose(after.unit_positions[1:], state.unit_positions[1:])  # enemies hold still
