"""The environment protocol every task speaks (arrays first, see DESIGN.md).

An environment is any object with a ``spec`` and two pure, jittable methods:

``reset(key) -> (obs, state, avail, env_state)``
``step(key, env_state, actions) -> (obs, state, avail, reward, terminated, info, env_state)``

with ``obs [n_agents, obs_dim]``, ``state [state_dim]`` (the global state the centralized
critic sees), ``avail [n_agents, n_actions]`` (1 where an action may be taken), ``actions
[n_agents]`` integer, a shared scalar ``reward`` and a scalar ``terminated`` that is true only
when the *task* ends the episode (a battle is decided, a prey is caught). The time limit
``spec.episode_limit`` is enforced by the rollout, not the environment, so that critic targets
can bootstrap through a time-out (PyMARL's convention) and environments never auto-reset.

``info`` is a dict of per-step float scalars with the fixed keys ``spec.info_keys``; the rollout
sums each over the valid steps of an episode to give that episode's task metric (``won`` is 1 on
the step a battle is won, ``collisions`` counts the collisions of that step, ...).

Optionally an environment may implement ``render(env_states, path)``: draw a list of unbatched
``env_state`` values of one episode into an animated GIF at ``path``.
"""

from typing import Any, NamedTuple, Protocol

import jax


class EnvSpec(NamedTuple):
    """Static shapes and limits of an environment."""

    n_agents: int
    obs_dim: int
    state_dim: int
    n_actions: int
    episode_limit: int
    info_keys: tuple[str, ...] = ()


class Env(Protocol):
    spec: EnvSpec

    def reset(self, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, Any]: ...

    def step(
        self, key: jax.Array, env_state: Any, actions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, dict, Any]: ...
