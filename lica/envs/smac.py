"""StarCraft micromanagement (SMAC, Sec. 4.2 / appendix A1.1) on jaxmarl's SMAX: ``--env smac:<map>``.

Allies are our agents; enemies play jaxmarl's heuristic (``HeuristicEnemySMAX``, extended in
``lica.envs.smax_units`` with the Colossus and the Medivac that ``1c3s5z``, ``2c_vs_64zg`` and
``MMM2`` need). The arrays of our protocol (``lica.envs.base``):

* ``obs [n_allies, obs_dim]``: SMAX's unit-list observation (other units' health, relative
  position, last movement, last target, cooldown or medivac energy, unit type; own features).
* ``state``: SMAX's ``world_state`` layout normalized to [0, 1].
* ``avail``: actions 0-3 move north/east/south/west (dead units cannot), 4 stop (always),
  ``5 + k`` attack enemy ``k`` (heal ally ``k`` for a medivac) when it is a valid target in range.
* ``reward``: SMAC's shared dense reward (damage to enemies, +10 per kill, +200 on victory),
  scaled so that the largest possible return is 20.
* ``terminated``: the battle is decided (a side has no fighting unit left); never the time-out,
  which the rollout applies at ``spec.episode_limit`` = SMAC's step limit of the map.
* ``info["won"]``: 1 on the step the allies win.

2c_vs_64zg has SMAClite's ravine (``lica.envs.terrain``); the other maps are SMAX's open field.
Differences from SMAC (terrain, SMAX's unit statistics, health merged with shields, time
step, heuristic enemy instead of the built-in AI, ...) are listed in ``docs/smac.md``.
"""

import jax
import jax.numpy as jnp
from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO, Scenario

from lica.envs.base import EnvSpec
from lica.envs.smax_units import COLOSSUS, MARAUDER, MARINE, MEDIVAC, STALKER, ZEALOT, ZERGLING, HeuristicEnemyUnitSMAX
from lica.envs.terrain import Terrain, ravine


def _scenario(allies, enemies):
    types = jnp.array(list(allies) + list(enemies), dtype=jnp.uint8)
    return Scenario(types, len(allies), len(enemies), False, False)


NEW_SCENARIOS = {
    "1c3s5z": _scenario([COLOSSUS] + [STALKER] * 3 + [ZEALOT] * 5, [COLOSSUS] + [STALKER] * 3 + [ZEALOT] * 5),
    "2c_vs_64zg": _scenario([COLOSSUS] * 2, [ZERGLING] * 64),
    "MMM2": _scenario([MEDIVAC] + [MARAUDER] * 2 + [MARINE] * 7, [MEDIVAC] + [MARAUDER] * 3 + [MARINE] * 8),
}
SCENARIOS = {**NEW_SCENARIOS, **MAP_NAME_TO_SCENARIO}

PAPER_MAPS = ("2s3z", "1c3s5z", "5m_vs_6m", "2c_vs_64zg", "MMM2", "3s5z_vs_3s6z")
TASKS = PAPER_MAPS + tuple(m for m in SCENARIOS if m not in PAPER_MAPS)

# SMAC's step limits (smac/env/starcraft2/maps/smac_maps.py); maps SMAC lacks get SMAX's 100.
SMAC_LIMITS = {
    "2s3z": 120, "1c3s5z": 180, "5m_vs_6m": 70, "2c_vs_64zg": 400, "MMM2": 180, "3s5z_vs_3s6z": 170,
    "3m": 60, "8m": 120, "25m": 150, "3s5z": 150, "10m_vs_11m": 150, "27m_vs_30m": 180,
    "3s_vs_5z": 250, "6h_vs_8z": 150,
}
SMAX_DEFAULT_LIMIT = 100

# Maps laid out as SMAClite lays them out (uoe-agents/smaclite, smaclite_maps/*.json): terrain,
# the centres of the allies' and enemies' start squares, and where enemies head by default.
# The others keep SMAX's open map and start squares.
LAYOUTS = {
    "2c_vs_64zg": dict(terrain=ravine, team_centres=((16.0, 16.0), (16.0, 9.0)), attack_point=(16.0, 16.0)),
}

DEFAULT_ARGS = dict(
    episode_limit=None,  # SMAC's limit of the map
    attack_mode="closest",  # how heuristic enemies pick targets: "closest" or "random"
    enemy_shoots=True,
    see_enemy_actions=True,  # observe the enemies' last actions (SMAX's default)
    walls_cause_death=True,  # SMAX's default: a unit touching the map's edge dies
    terrain=True,  # the map's terrain and start positions where LAYOUTS has them, else SMAX's open map
    # Append every agent's last action (one-hot; zeros after a reset) to the state, as SMAC's
    # ``state_last_action`` does in PyMARL's sc2.yaml, which the paper's code ran with.
    # Off: LICA with it learned no better on 2s3z or 1c3s5z (3 seeds, 3M; docs/results.md).
    state_last_action=False,
    reward_win=200.0, reward_death_value=10.0, reward_scale_rate=20.0,
    # SMAC's attack orders for the allies: any target within 6 can be attacked and a unit out of
    # its weapon's range walks to it (StarCraft II's behaviour); False: SMAX's, in range only
    attack_orders=False,
    # 2c_vs_64zg's colossi walk over its wall as StarCraft II's walk over cliffs; False: the wall
    # stops every unit, as in SMAClite (docs/smac.md)
    cliff_walk=False,
)

TEAM_COLORS = ("tab:blue", "tab:red")


class SMAC:
    def __init__(self, map_name: str, episode_limit: int | None = None, terrain: bool = True,
                 state_last_action: bool = False, **env_kwargs):
        self.map_name = map_name
        self.state_last_action = state_last_action
        limit = episode_limit or SMAC_LIMITS.get(map_name, SMAX_DEFAULT_LIMIT)
        layout = dict(LAYOUTS.get(map_name, {})) if terrain else {}
        if layout:
            layout["terrain"] = Terrain(layout["terrain"]())
        self.env = HeuristicEnemyUnitSMAX(scenario=SCENARIOS[map_name], max_steps=limit, **layout, **env_kwargs)
        self.sim = self.env._env
        self.agents = list(self.env.agents)
        n_agents, n_actions = self.sim.num_allies, self.sim.num_ally_actions
        state_dim = self.sim.state_size + (n_agents * n_actions if state_last_action else 0)
        self.spec = EnvSpec(n_agents=n_agents, obs_dim=self.sim.obs_size,
                            state_dim=state_dim, n_actions=n_actions,
                            episode_limit=int(limit), info_keys=("won",))

    def _arrays(self, obs, env_state, actions):
        obs_arr = jnp.stack([obs[a] for a in self.agents]).astype(jnp.float32)
        avail = self.env.get_avail_actions(env_state)
        avail = jnp.stack([avail[a] for a in self.agents]).astype(jnp.float32)
        state = obs["world_state"].astype(jnp.float32)
        if self.state_last_action:
            state = jnp.concatenate([state, jax.nn.one_hot(actions, self.spec.n_actions).reshape(-1)])
        return obs_arr, state, avail

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        no_action = jnp.full(self.spec.n_agents, -1)  # one_hot(-1) is all zeros
        return (*self._arrays(obs, env_state, no_action), env_state)

    def step(self, key, env_state, actions):
        before = env_state.state
        obs, env_state, rewards, dones, _ = self.env.step_env(
            key, env_state, {a: actions[i] for i, a in enumerate(self.agents)})
        after = env_state.state
        won = self.sim.won(after.unit_types, after.unit_health) & ~before.done
        info = {"won": won.astype(jnp.float32)}
        reward = rewards[self.agents[0]].astype(jnp.float32)
        return (*self._arrays(obs, env_state, actions), reward, dones["__all__"], info, env_state)

    def render(self, env_states, path):
        """Draw one episode (a list of unbatched env states) to an animated GIF at ``path``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.animation import FuncAnimation, PillowWriter

        frames = [jax.device_get(s.state) for s in env_states]
        fig, ax = plt.subplots(figsize=(6, 6))
        animation = FuncAnimation(fig, lambda t: self._draw(ax, frames[t], t), frames=len(frames))
        animation.save(path, writer=PillowWriter(fps=4))
        plt.close(fig)

    def _draw(self, ax, s, t):
        from matplotlib.patches import Circle

        sim = self.sim
        ax.clear()
        ax.set_xlim(0, sim.map_width)
        ax.set_ylim(0, sim.map_height)
        ax.set_aspect("equal")
        ax.set_title(f"{self.map_name}  step {t}")
        if sim.terrain is not None:
            ax.imshow(sim.terrain.blocked, origin="lower", extent=(0, sim.map_width, 0, sim.map_height),
                      cmap="Greys", vmin=0, vmax=2)
        for i in range(sim.num_agents):
            if not s.unit_alive[i]:
                continue
            kind = int(s.unit_types[i])
            x, y = (float(v) for v in s.unit_positions[i])
            radius = float(sim.unit_type_radiuses[kind])
            frac = float(s.unit_health[i] / sim.unit_type_health[kind])
            color = TEAM_COLORS[int(i >= sim.num_allies)]
            ax.add_patch(Circle((x, y), radius, facecolor=color, alpha=0.3 + 0.7 * frac, edgecolor="black"))
            ax.text(x, y, sim.unit_type_shorthands[kind], ha="center", va="center", fontsize=7, color="white")
            ax.plot([x - radius, x - radius + 2 * radius * frac], [y + radius + 0.3] * 2, color="green", lw=2)
        return []


def make(task: str | None = None, **env_args):
    if task not in SCENARIOS:
        raise ValueError(f"unknown smac map '{task}'; choose one of: {', '.join(TASKS)}")
    unknown = sorted(set(env_args) - set(DEFAULT_ARGS))
    if unknown:
        raise ValueError(f"unknown smac env_args {unknown}; known: {', '.join(DEFAULT_ARGS)}")
    return SMAC(task, **{**DEFAULT_ARGS, **env_args})
