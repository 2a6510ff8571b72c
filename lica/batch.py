"""The one batch type every rollout produces and every algorithm consumes (DESIGN.md)."""

from typing import NamedTuple

import jax


class Batch(NamedTuple):
    """Episodes, time-major: every field is ``[T+1, B, ...]`` with ``T = episode_limit``.

    Step ``t`` holds what the agents saw (``obs``, ``state``, ``avail``), what they did
    (``actions`` and the behaviour policy's ``probs``) and what followed (``reward``,
    ``terminated``). ``mask[t]`` is 1 for the transitions that happened; everything after an
    episode's end is padding. The extra step ``T`` holds the final observation and the action the
    policy would take there, so critics can bootstrap an episode cut by the time limit.
    """

    obs: jax.Array  # [T+1, B, N, obs_dim]
    state: jax.Array  # [T+1, B, state_dim]
    avail: jax.Array  # [T+1, B, N, n_actions]
    actions: jax.Array  # [T+1, B, N] int32
    probs: jax.Array  # [T+1, B, N, n_actions]
    reward: jax.Array  # [T+1, B]
    terminated: jax.Array  # [T+1, B]
    mask: jax.Array  # [T+1, B]
