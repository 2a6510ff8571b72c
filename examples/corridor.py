"""Your own task in lica-marl: a corridor that every agent must walk to its end.

``n_agents`` agents start in the first half of a corridor of ``length`` cells and may step left,
stay or step right. Each step costs every agent still short of the last cell 1 / n_agents of
reward, and the episode ends when all of them stand on it. An agent sees its own position and
how many agents have arrived; the critic's state is every position.

Nothing here is registered anywhere. Train it by its import path (the working directory is
searched, as ``python -m`` does), or hand an instance to the Python API:

    lica train --env examples.corridor:make --set env_args.length=6 --env-steps 30000
    python -c "import lica; from examples.corridor import Corridor; lica.train(Corridor(), env_steps=30000)"
"""

import jax
import jax.numpy as jnp

from lica.envs.base import EnvSpec

LEFT, STAY, RIGHT = 0, 1, 2


class Corridor:
    def __init__(self, n_agents: int = 2, length: int = 6, max_steps: int = 20):
        if length < 2:
            raise ValueError(f"corridor length must be at least 2, got {length}")
        self.n_agents, self.length = n_agents, length
        self.spec = EnvSpec(n_agents=n_agents, obs_dim=2, state_dim=n_agents, n_actions=3,
                            episode_limit=max_steps)

    def _arrays(self, position):
        """``(obs, state, avail)`` of the protocol (``lica.envs.base``) at ``position``."""
        x = position / (self.length - 1)
        arrived = jnp.mean(position == self.length - 1)
        obs = jnp.stack([x, jnp.full(self.n_agents, arrived)], axis=1)
        return obs, x, jnp.ones((self.n_agents, 3))

    def reset(self, key):
        position = jax.random.randint(key, (self.n_agents,), 0, self.length // 2)
        return (*self._arrays(position), position)

    def step(self, key, position, actions):
        position = jnp.clip(position + actions - STAY, 0, self.length - 1)
        short = position < self.length - 1
        reward = -jnp.mean(short)
        terminated = ~jnp.any(short)
        return (*self._arrays(position), reward, terminated, {}, position)


def make(**env_args) -> Corridor:
    return Corridor(**env_args)
