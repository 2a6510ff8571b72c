"""The 1-step traffic junction of Sec. 4.3.1 (Fig. 5).

Two agents each choose ``wait`` (0) or ``pass`` (1). The shared reward is 1 when exactly one
of them passes and 0 otherwise, so there are two optimal joint actions. Every episode is one
step long. There is no state to speak of: agents observe only their one-hot id and the
critic sees a constant state vector.
"""

import jax.numpy as jnp

from lica.envs.base import EnvSpec

WAIT, PASS = 0, 1


def junction_reward(actions):
    """Shared reward: 1 if exactly one agent passes (Sec. 4.3.1)."""
    return (jnp.sum(actions == PASS, axis=-1) == 1).astype(jnp.float32)


class TrafficJunction:
    spec = EnvSpec(n_agents=2, obs_dim=2, state_dim=1, n_actions=2, episode_limit=1,
                   info_keys=("optimal",))

    def _observe(self):
        obs = jnp.eye(2, dtype=jnp.float32)
        return obs, jnp.ones((1,), jnp.float32), jnp.ones((2, 2), jnp.float32)

    def reset(self, key):
        obs, state, avail = self._observe()
        return obs, state, avail, jnp.zeros((), jnp.int32)

    def step(self, key, env_state, actions):
        obs, state, avail = self._observe()
        reward = junction_reward(actions)
        info = {"optimal": reward}
        return obs, state, avail, reward, jnp.array(True), info, env_state + 1


def make(task: str | None = None, **kwargs):
    if task:
        raise ValueError(f"environment 'junction' has no tasks, got 'junction:{task}'; use --env junction")
    if kwargs:
        raise ValueError(f"environment 'junction' takes no arguments, got {sorted(kwargs)}")
    return TrafficJunction()


TASKS = ()
