"""Multi-agent particle environments of Sec. 4.1: Cooperative Navigation and Predator-Prey.

Tasks: ``mpe:spread-3``, ``mpe:spread-5`` (Cooperative Navigation with n = 3 or 5) and
``mpe:predator-prey``. The only argument is ``max_steps`` (the episode limit, default 200 as in
Sec. 4.1, "a maximum of 200 steps"); the rollout enforces it, the tasks never time out by
themselves.

Choices made (the paper leaves them open or defers to code, appendix A1.2):

Physics. The world step is jaxmarl's ``SimpleMPE._world_step`` (action forces, soft contact
forces, damping 0.25, dt 0.1, unit masses, speed caps), driven with the physical constants of
jaxmarl's ``SimpleSpreadMPE`` / ``SimpleTagMPE``, which equal the scenario values of openai's
MPE and of SQDDPG's copy of it. Like jaxmarl and PettingZoo's ``mpe2``, a step moves each
particle with its *old* velocity and then updates the velocity; openai's original ``core.py``
(and SQDDPG's copy) update the velocity first. We keep jaxmarl's order, so trajectories match
``mpe2`` (tested step for step) and differ from the original by that one-step lag of position
behind velocity. No motor noise, agents are silent (no communication channel).

Actions. Five discrete actions ``[stop, right, left, up, down]``; each pushes the agent with
force ``accel`` along +x, -x, +y, -y (none for stop). This is the order of openai's one-hot
MPE actions used by SQDDPG (``u[0] += a[1] - a[2]``, ``u[1] += a[3] - a[4]``); jaxmarl and
PettingZoo index the same moves as ``[no-op, left, right, down, up]``, which is only a
relabelling. Every action is always available.

Cooperative Navigation (``spread-n``). n agents (radius 0.15, accel 5, no speed cap) and n
landmarks (radius 0.05, not colliding) spawn uniformly in [-1, 1]^2 with zero velocity.
The shared reward, computed after the move as in MPE, is the paper's: minus the sum over
landmarks of the distance to the nearest agent, minus 1 for every collision of an agent with
another agent. A pair of agents in contact (distance < 0.3) counts as two collisions, one for
each agent, exactly as MPE's per-agent collision penalty summed over the agents (openai's
original also penalised each agent for touching itself; that constant is left out, as in
jaxmarl and ``mpe2``). The task never terminates.

* obs (``4n + 2``: 14 / 22): own velocity, own position, displacement of every landmark,
  displacement of every other agent (in index order) - simple_spread's observation without its
  always-zero communication slots.
* state (``6n``: 18 / 30): all agents' positions, all agents' velocities, landmark positions.
* info: ``collisions`` (the collisions counted in that step's reward) and ``min_dist_sum`` (that
  step's sum of nearest-agent distances), so their episode sums are the collision count and the
  cumulative landmark distance.

Predator-Prey (``predator-prey``). Sizes, speeds and spawn regions are those of SQDDPG's
modified simple_tag (hsvgbkhgbv/SQDDPG, ``environments/multiagent_particle_envs/multiagent/
scenarios/simple_tag.py``, commit 33eef74b), which equal openai's simple_tag: 3 predators
(radius 0.075, accel 3, max speed 1.0), 1 prey (radius 0.05, accel 4, max speed 1.3), both
spawned uniformly in [-1, 1]^2; 2 obstacles (radius 0.2, immovable, colliding) spawned
uniformly in [-0.9, 0.9]^2 at every reset. Everything collides with everything. The prey picks
one of the 5 actions uniformly at random each step (``prey_action(key)``, from the step key), as
SQDDPG's ``random_action`` does; the prey is not confined to the arena.

* reward: ``-min_i |predator_i - prey|`` plus 10 for every predator touching the prey
  (distance < 0.125) after the move. The paper says the shared reward is the minimum
  prey-predator distance, which we take literally (coefficient 1); the +10 per touching
  predator is SQDDPG's capture bonus. SQDDPG shapes each predator with ``-0.1 *`` a distance and
  sums the three predators' rewards; with that 0.1 coefficient on the minimum distance, LICA
  did not learn at all (measured: 300k steps, 2 seeds, capture rate 0.12-0.22 against the
  random policy's 0.17, entropy collapsing and the critic loss growing), because the action's
  effect on Q was lost in the noise of the sparse capture bonus; with coefficient 1 the same
  run reached capture rates 0.41-0.62.
* termination: the step on which any predator touches the prey (SQDDPG's ``episode_over``).
* obs (16): own velocity, own position, displacement of both obstacles, displacement of the
  other predators then of the prey, the prey's velocity (SQDDPG/simple_tag's predator
  observation; the paper's description omits the prey velocity).
* state (20): positions of the 3 predators and the prey, their velocities, obstacle positions.
* info: ``captured`` (1 on the capture step, so its episode sum is 1 if the prey was caught).

The environment state is an ``MPEState`` of entity positions and velocities (agents first, then
landmarks/obstacles; in predator-prey the prey is agent 3).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lica.envs.base import EnvSpec

TASKS = ("spread-3", "spread-5", "predator-prey")
N_ACTIONS = 5
# unit force direction of each discrete action: stop, right, left, up, down
MOVES = jnp.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], jnp.float32)

DIST_COEF = 1.0  # the paper's shared reward is the minimum prey-predator distance (see above)
CAPTURE_BONUS = 10.0  # SQDDPG simple_tag: +10 for each predator touching the prey


class MPEState(NamedTuple):
    """Positions and velocities of all entities, ``[n_entities, 2]`` each."""

    p_pos: jax.Array
    p_vel: jax.Array


def pairwise_distances(a, b):
    """``[len(a), len(b)]`` Euclidean distances between two sets of 2-d points."""
    return jnp.sqrt(jnp.sum(jnp.square(a[:, None] - b[None]), axis=-1))


def others_index(n: int) -> np.ndarray:
    """``[n, n-1]`` table whose row i lists every index but i, in order (static, not traced)."""
    return np.array([[j for j in range(n) if j != i] for i in range(n)], dtype=np.int32)


def _displacements(points, origins):
    """Flattened displacements of ``points [k, 2]`` from each origin: ``[n_origins, 2k]``."""
    return (points[None] - origins[:, None]).reshape(origins.shape[0], -1)


class _ParticleEnv:
    """What both tasks share: the jaxmarl world that holds the physical constants, the move of
    one step and drawing. Subclasses set ``world``, ``spec`` and ``colours`` (one per entity)."""

    def _spawn(self, key, n, bound):
        return jax.random.uniform(key, (n, 2), jnp.float32, -bound, bound)

    def _move(self, key, env_state, moves):
        """One physics step; ``moves`` holds a discrete action for each agent of the world."""
        force = MOVES[moves] * self.world.accel[:, None]
        p_pos, p_vel = self.world._world_step(key, env_state, force)
        return MPEState(p_pos.astype(jnp.float32), p_vel.astype(jnp.float32))

    def _avail(self):
        return jnp.ones((self.spec.n_agents, N_ACTIONS), jnp.float32)

    def render(self, env_states, path):
        """Draw the unbatched states of one episode into an animated GIF at ``path``."""
        from matplotlib.animation import PillowWriter
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle

        positions = np.stack([np.asarray(s.p_pos) for s in env_states])
        radii = np.asarray(self.world.rad)
        half = max(1.2, float(np.abs(positions).max() + radii.max()))  # keep strays in view
        fig = Figure(figsize=(4, 4))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        writer = PillowWriter(fps=10)
        with writer.saving(fig, str(path), dpi=60):
            for t, pos in enumerate(positions):
                ax.clear()
                ax.set(xlim=(-half, half), ylim=(-half, half), aspect="equal", xticks=[], yticks=[])
                ax.set_title(f"step {t}")
                for p, r, c in zip(pos, radii, self.colours):
                    ax.add_patch(Circle(p, r, color=c, alpha=0.8))
                writer.grab_frame()


class CooperativeNavigation(_ParticleEnv):
    """n agents cover n landmarks (``mpe:spread-n``)."""

    def __init__(self, n: int, max_steps: int):
        from jaxmarl.environments.mpe.simple_spread import SimpleSpreadMPE

        self.n = n
        self.world = SimpleSpreadMPE(num_agents=n, num_landmarks=n)
        self._others = others_index(n)
        self.colours = ("tab:blue",) * n + ("dimgray",) * n
        self.spec = EnvSpec(n_agents=n, obs_dim=4 * n + 2, state_dim=6 * n, n_actions=N_ACTIONS,
                            episode_limit=max_steps, info_keys=("collisions", "min_dist_sum"))

    def _observe(self, s):
        n = self.n
        pos, vel, landmarks = s.p_pos[:n], s.p_vel[:n], s.p_pos[n:]
        own = jnp.concatenate([vel, pos], axis=1)
        others = (pos[self._others] - pos[:, None]).reshape(n, -1)
        obs = jnp.concatenate([own, _displacements(landmarks, pos), others], axis=1)
        state = jnp.concatenate([pos.ravel(), vel.ravel(), landmarks.ravel()])
        return obs, state, self._avail()

    def min_dist_sum(self, s):
        """Sum over landmarks of the distance to the nearest agent."""
        return jnp.sum(jnp.min(pairwise_distances(s.p_pos[: self.n], s.p_pos[self.n :]), axis=0))

    def collisions(self, s):
        """Agents touching another agent, each pair counted once per agent in it (i.e. twice)."""
        rad = self.world.rad[: self.n]
        touching = pairwise_distances(s.p_pos[: self.n], s.p_pos[: self.n]) < rad[:, None] + rad[None]
        return jnp.sum(touching & ~jnp.eye(self.n, dtype=bool)).astype(jnp.float32)

    def reset(self, key):
        k_agents, k_landmarks = jax.random.split(key)
        p_pos = jnp.concatenate([self._spawn(k_agents, self.n, 1.0), self._spawn(k_landmarks, self.n, 1.0)])
        s = MPEState(p_pos, jnp.zeros_like(p_pos))
        return (*self._observe(s), s)

    def step(self, key, env_state, actions):
        s = self._move(key, env_state, actions)
        dist, collisions = self.min_dist_sum(s), self.collisions(s)
        info = {"collisions": collisions, "min_dist_sum": dist}
        return (*self._observe(s), -dist - collisions, jnp.array(False), info, s)


class PredatorPrey(_ParticleEnv):
    """3 predators chase a faster, randomly acting prey among 2 obstacles (``mpe:predator-prey``)."""

    N_PREDATORS = 3
    PREY = 3  # entity index of the prey; obstacles follow it

    def __init__(self, max_steps: int):
        from jaxmarl.environments.mpe.simple_tag import SimpleTagMPE

        self.world = SimpleTagMPE(num_good_agents=1, num_adversaries=self.N_PREDATORS, num_obs=2)
        self._others = others_index(self.N_PREDATORS + 1)[: self.N_PREDATORS]
        self.colours = ("tab:red",) * self.N_PREDATORS + ("tab:green",) + ("dimgray",) * 2
        self.spec = EnvSpec(n_agents=self.N_PREDATORS, obs_dim=16, state_dim=20, n_actions=N_ACTIONS,
                            episode_limit=max_steps, info_keys=("captured",))

    def _observe(self, s):
        agents, vel, obstacles = s.p_pos[: self.PREY + 1], s.p_vel[: self.PREY + 1], s.p_pos[self.PREY + 1 :]
        pos = agents[: self.N_PREDATORS]
        others = (agents[self._others] - pos[:, None]).reshape(self.N_PREDATORS, -1)
        prey_vel = jnp.broadcast_to(vel[self.PREY], (self.N_PREDATORS, 2))
        obs = jnp.concatenate([vel[: self.N_PREDATORS], pos, _displacements(obstacles, pos), others, prey_vel], axis=1)
        state = jnp.concatenate([agents.ravel(), vel.ravel(), obstacles.ravel()])
        return obs, state, self._avail()

    @staticmethod
    def _keys(key):
        """Split a step key into the prey's key and the physics key."""
        return jax.random.split(key)

    def prey_action(self, key):
        """The prey's uniformly random action in the step taken with ``key``."""
        return jax.random.randint(self._keys(key)[0], (), 0, N_ACTIONS)

    def prey_distances(self, s):
        """Distance of each predator to the prey, ``[3]``."""
        return jnp.sqrt(jnp.sum(jnp.square(s.p_pos[: self.N_PREDATORS] - s.p_pos[self.PREY]), axis=-1))

    def reset(self, key):
        k_agents, k_obstacles = jax.random.split(key)
        p_pos = jnp.concatenate([self._spawn(k_agents, self.PREY + 1, 1.0), self._spawn(k_obstacles, 2, 0.9)])
        s = MPEState(p_pos, jnp.zeros_like(p_pos))
        return (*self._observe(s), s)

    def step(self, key, env_state, actions):
        moves = jnp.concatenate([actions, self.prey_action(key)[None]])
        s = self._move(self._keys(key)[1], env_state, moves)
        dist = self.prey_distances(s)
        rad = self.world.rad
        touching = dist < rad[: self.N_PREDATORS] + rad[self.PREY]
        captured = jnp.any(touching)
        reward = -DIST_COEF * jnp.min(dist) + CAPTURE_BONUS * jnp.sum(touching)
        info = {"captured": captured.astype(jnp.float32)}
        return (*self._observe(s), reward.astype(jnp.float32), captured, info, s)


def make(task: str | None = None, max_steps: int = 200, **kwargs):
    """Build ``mpe:<task>``; ``max_steps`` is the episode limit (Sec. 4.1: 200)."""
    if kwargs:
        raise ValueError(f"unknown argument '{sorted(kwargs)[0]}' for environment 'mpe'; the only one is max_steps")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if task == "predator-prey":
        return PredatorPrey(int(max_steps))
    if task in ("spread-3", "spread-5"):
        return CooperativeNavigation(int(task[-1]), int(max_steps))
    raise ValueError(f"unknown environment 'mpe:{task}'; choose one of: {', '.join('mpe:' + t for t in TASKS)}")
