"""The particle environments (lica.envs.mpe): shapes, rewards by hand, dynamics against PettingZoo's
mpe2, the random prey and random obstacles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica import envs
from lica.envs import mpe
from lica.envs.mpe import MPEState

# our actions [stop, right, left, up, down] -> mpe2's [no-op, left, right, down, up]
MPE2_ACTION = np.array([0, 2, 1, 4, 3])


def _state(pos, vel=None):
    pos = jnp.asarray(pos, jnp.float32)
    return MPEState(pos, jnp.zeros_like(pos) if vel is None else jnp.asarray(vel, jnp.float32))


def _stop(env):
    return jnp.zeros(env.spec.n_agents, jnp.int32)


@pytest.mark.parametrize("task, obs_dim, state_dim", [("spread-3", 14, 18), ("spread-5", 22, 30),
                                                      ("predator-prey", 16, 20)])
def test_shapes_and_dtypes_under_jit_and_vmap(task, obs_dim, state_dim):
    env = envs.make(f"mpe:{task}")
    n, spec = env.spec.n_agents, env.spec
    assert (spec.obs_dim, spec.state_dim, spec.n_actions, spec.episode_limit) == (obs_dim, state_dim, 5, 200)
    obs, state, avail, s = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 4))
    assert obs.shape == (4, n, obs_dim) and state.shape == (4, state_dim) and avail.shape == (4, n, 5)
    actions = jax.random.randint(jax.random.PRNGKey(1), (4, n), 0, 5)
    obs, state, avail, reward, terminated, info, s = jax.jit(jax.vmap(env.step))(
        jax.random.split(jax.random.PRNGKey(2), 4), s, actions)
    assert obs.shape == (4, n, obs_dim) and obs.dtype == jnp.float32
    assert state.shape == (4, state_dim) and state.dtype == jnp.float32
    assert avail.dtype == jnp.float32 and bool(jnp.all(avail == 1))
    assert reward.shape == (4,) and reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_
    assert tuple(info) == spec.info_keys and all(v.shape == (4,) for v in info.values())
    assert bool(jnp.all(jnp.isfinite(obs))) and bool(jnp.all(jnp.isfinite(reward)))


def test_make_checks_its_arguments():
    assert envs.make("mpe:spread-3", max_steps=7).spec.episode_limit == 7
    with pytest.raises(ValueError, match="episode_limit"):
        mpe.make("spread-3", episode_limit=5)
    with pytest.raises(ValueError, match="max_steps"):
        mpe.make("spread-3", max_steps=0)
    with pytest.raises(ValueError, match="mpe:nope"):
        mpe.make("nope")


def test_spread_reward_by_hand():
    env = mpe.make("spread-3")
    # agents 0 and 1 overlap (0.2 < 0.15 + 0.15); still particles do not move in their first step
    agents, landmarks = [[0, 0], [0.2, 0], [1, 1]], [[0, 0.5], [1, 0], [-1, -1]]
    obs, state, _, reward, terminated, info, s = env.step(jax.random.PRNGKey(0), _state(agents + landmarks), _stop(env))
    np.testing.assert_allclose(s.p_pos, agents + landmarks, atol=1e-7)
    nearest = 0.5 + 0.8 + np.sqrt(2)
    np.testing.assert_allclose(info["min_dist_sum"], nearest, rtol=1e-6)
    assert float(info["collisions"]) == 2  # one colliding pair, counted for each of its agents
    np.testing.assert_allclose(reward, -nearest - 2, rtol=1e-6)
    assert not bool(terminated)
    assert float(s.p_vel[0, 0]) < 0 < float(s.p_vel[1, 0])  # the contact force pushes them apart
    # observation of agent 1: own velocity, own position, landmarks, other agents (relative)
    pos, vel = np.asarray(s.p_pos), np.asarray(s.p_vel)
    expected = np.concatenate([vel[1], pos[1], (pos[3:] - pos[1]).ravel(), pos[0] - pos[1], pos[2] - pos[1]])
    np.testing.assert_allclose(obs[1], expected, atol=1e-6)
    np.testing.assert_allclose(state, np.concatenate([pos[:3].ravel(), vel[:3].ravel(), pos[3:].ravel()]))


def _spread_reward(pos, n):
    agents, landmarks = pos[:n], pos[n:]
    total = -sum(min(np.linalg.norm(a - lm) for a in agents) for lm in landmarks)
    return total - sum(np.linalg.norm(agents[i] - agents[j]) < 0.3 for i in range(n) for j in range(n) if i != j)


def test_spread_reward_along_random_trajectories():
    env = mpe.make("spread-5")
    step = jax.jit(env.step)
    _, _, _, s = env.reset(jax.random.PRNGKey(3))
    # start crowded so that collisions happen
    s = s._replace(p_pos=s.p_pos.at[:5].multiply(0.2))
    rng = np.random.default_rng(0)
    for t in range(15):
        *_, reward, _, info, s = step(jax.random.PRNGKey(t), s, jnp.asarray(rng.integers(0, 5, 5)))
        np.testing.assert_allclose(reward, _spread_reward(np.asarray(s.p_pos, np.float64), 5), rtol=1e-5, atol=1e-5)


def test_predator_prey_reward_capture_and_termination():
    env = mpe.make("predator-prey")
    others = [[0.5, 0.5], [-0.5, 0.5], [0.0, 0.0], [0.8, -0.8], [-0.8, -0.8]]  # 2 predators, prey, obstacles
    # predator 0 at 0.1 from the prey: touching (0.1 < 0.075 + 0.05); nothing moves in the first step
    obs, _, _, reward, terminated, info, s = env.step(jax.random.PRNGKey(0), _state([[0.1, 0.0]] + others), _stop(env))
    np.testing.assert_allclose(s.p_pos[:4], [[0.1, 0.0]] + others[:3], atol=1e-7)
    np.testing.assert_allclose(reward, -0.1 + 10.0, rtol=1e-6)
    assert bool(terminated) and float(info["captured"]) == 1
    # at 0.3 it is not a capture: only the distance term
    obs, _, _, reward, terminated, info, s = env.step(jax.random.PRNGKey(0), _state([[0.3, 0.0]] + others), _stop(env))
    np.testing.assert_allclose(reward, -0.3, rtol=1e-6)
    assert not bool(terminated) and float(info["captured"]) == 0
    # observation of predator 0
    pos, vel = np.asarray(s.p_pos), np.asarray(s.p_vel)
    expected = np.concatenate([vel[0], pos[0], (pos[4:] - pos[0]).ravel(), (pos[1:4] - pos[0]).ravel(), vel[3]])
    np.testing.assert_allclose(obs[0], expected, atol=1e-6)


def test_prey_acts_uniformly_at_random():
    env = mpe.make("predator-prey")
    actions = jax.vmap(env.prey_action)(jax.random.split(jax.random.PRNGKey(0), 5000))
    np.testing.assert_allclose(np.bincount(np.asarray(actions), minlength=5) / 5000, 0.2, atol=0.03)

    _, _, _, s0 = env.reset(jax.random.PRNGKey(1))
    step = jax.jit(env.step)

    def prey_path(seed):
        s, path = s0, []
        for k in jax.random.split(jax.random.PRNGKey(seed), 10):
            *_, s = step(k, s, _stop(env))
            path.append(np.asarray(s.p_pos[3]))
        return np.stack(path)

    assert np.abs(prey_path(0) - prey_path(1)).max() > 1e-2  # different keys, different prey paths
    np.testing.assert_array_equal(prey_path(2), prey_path(2))  # same key, same path


def test_obstacles_are_random_across_resets():
    env = mpe.make("predator-prey")
    _, _, _, s = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 16))
    obstacles = np.asarray(s.p_pos[:, 4:]).reshape(-1, 2)
    assert np.all(np.abs(obstacles) <= 0.9)
    assert len(np.unique(obstacles.round(6), axis=0)) == len(obstacles)
    assert obstacles.std(axis=0).min() > 0.3  # spread over the region, not clustered


def test_render_writes_a_gif(tmp_path):
    from PIL import Image

    env = mpe.make("predator-prey")
    _, _, _, s = env.reset(jax.random.PRNGKey(0))
    frames = [s]
    for k in jax.random.split(jax.random.PRNGKey(1), 2):
        frames.append(env.step(k, frames[-1], _stop(env))[-1])
    env.render(frames, tmp_path / "episode.gif")
    with Image.open(tmp_path / "episode.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 3


# --- dynamics against PettingZoo's MPE (mpe2) ---------------------------------------------------


def _load(world, s):
    """Write our entity positions and velocities into an mpe2 world."""
    for entity, p, v in zip(world.entities, np.asarray(s.p_pos, np.float64), np.asarray(s.p_vel, np.float64)):
        entity.state.p_pos, entity.state.p_vel = p.copy(), v.copy()


def _assert_same_world(world, s):
    np.testing.assert_allclose(s.p_pos, [e.state.p_pos for e in world.entities], atol=1e-5)
    np.testing.assert_allclose(s.p_vel, [e.state.p_vel for e in world.entities], atol=1e-5)


def test_spread_dynamics_and_reward_match_mpe2():
    mpe2 = pytest.importorskip("mpe2.simple_spread_v3")
    env = mpe.make("spread-3")
    ref = mpe2.parallel_env(N=3, max_cycles=100)
    ref.reset(seed=0)
    world, scenario = ref.unwrapped.world, ref.unwrapped.scenario
    # agents 0 and 1 start in contact and moving towards each other
    s = _state([[0.0, 0.0], [0.25, 0.05], [-0.6, 0.7], [0.5, -0.5], [-0.9, -0.2], [0.1, 0.9]],
               [[0.5, 0.0], [-0.5, 0.0], [0.0, 0.0], [0, 0], [0, 0], [0, 0]])
    _load(world, s)
    step, rng = jax.jit(env.step), np.random.default_rng(0)
    for t in range(20):
        actions = rng.integers(0, 5, 3)
        *_, reward, _, _, s = step(jax.random.PRNGKey(t), s, jnp.asarray(actions))
        ref.step({a: int(MPE2_ACTION[u]) for a, u in zip(ref.agents, actions)})
        _assert_same_world(world, s)
        expected = scenario.global_reward(world) + sum(scenario.reward(a, world) for a in world.agents)
        np.testing.assert_allclose(reward, expected, atol=1e-5)


def test_predator_prey_dynamics_match_mpe2():
    mpe2 = pytest.importorskip("mpe2.simple_tag_v3")
    env = mpe.make("predator-prey")
    ref = mpe2.parallel_env(max_cycles=100)
    ref.reset(seed=0)
    world, scenario = ref.unwrapped.world, ref.unwrapped.scenario
    # predator 0 starts against obstacle 0, predators 1 and 2 against each other, prey in between
    s = _state([[0.3, 0.0], [-0.4, 0.4], [-0.3, 0.45], [0.0, -0.3], [0.55, 0.05], [-0.6, -0.6]],
               [[1.0, 0.0], [0.5, 0.0], [-0.5, 0.0], [0.0, 0.5], [0, 0], [0, 0]])
    _load(world, s)
    step = jax.jit(env.step)
    rng = np.random.default_rng(1)
    for k in jax.random.split(jax.random.PRNGKey(0), 20):
        actions = rng.integers(0, 5, 3)
        prey = int(env.prey_action(k))
        *_, reward, _, info, s = step(k, s, jnp.asarray(actions))
        ref.step({a: int(MPE2_ACTION[u]) for a, u in zip(ref.agents, [*actions, prey])})
        _assert_same_world(world, s)
        prey_agent, predators = world.agents[3], world.agents[:3]
        touching = [scenario.is_collision(prey_agent, p) for p in predators]
        assert float(info["captured"]) == float(any(touching))
        distance = min(np.linalg.norm(p.state.p_pos - prey_agent.state.p_pos) for p in predators)
        np.testing.assert_allclose(reward, -distance + 10 * sum(touching), atol=1e-5)
