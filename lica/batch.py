"""The one batch type every rollout produces and every algorithm consumes (DESIGN.md)."""

from typing import NamedTuple

import jax


class Batch(NamedTuple):
    """Episodes or segments, time-major: every field is ``[T+1, B, ...]``.

    Step ``t`` holds what the agents saw (``obs``, ``state``, ``avail``), what they did
    (``actions`` and the behaviour policy's ``probs``) and what followed (``reward``,
    ``terminated``). ``mask[t]`` is 1 for the transitions that happened. The extra step ``T``
    holds the final observation and the action the policy would take there, so critics can
    bootstrap what the batch cut off.

    Whole episodes (``T = episode_limit``): everything after an episode's end is padding, and
    ``first`` and ``carry0`` are ``None``. Segments of ongoing episodes (``lica.rollout.segment``,
    ``T = segment_length``): every step is valid, an environment that finished an episode goes
    on with a new one, ``first[t]`` is 1 where a step begins an episode, and ``carry0`` is the
    actors' carry (hidden state, last action) at the segment's first step. There
    ``terminated[t]`` marks every episode end, time-outs included: a critic bootstraps neither
    across a reset nor through a time-out (the environment has already reset).
    """

    obs: jax.Array  # [T+1, B, N, obs_dim]
    state: jax.Array  # [T+1, B, state_dim]
    avail: jax.Array  # [T+1, B, N, n_actions]
    actions: jax.Array  # [T+1, B, N] int32
    probs: jax.Array  # [T+1, B, N, n_actions]
    reward: jax.Array  # [T+1, B]
    terminated: jax.Array  # [T+1, B]
    mask: jax.Array  # [T+1, B]
    first: jax.Array | None = None  # [T+1, B], segments only
    carry0: object = None  # the actors' carry at step 0, segments only
    # At least ``mask.sum()``, and the same for every vmapped seed: set by
    # ``lica.trim.update_trimmed`` so that per-step work can skip padding (``ops.on_valid_rows``).
    valid_steps: jax.Array | None = None
    # Where each whole episode lies once packed into fewer rows for the agents' unroll
    # (``lica.packing.Lanes``), set by ``update_trimmed`` likewise.
    lanes: object = None

