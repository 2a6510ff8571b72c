"""The one batch type every rollout produces and every algorithm consumes (DESIGN.md)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp


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


def trim_lengths(full: int, shortest: int = 32) -> list[int]:
    """The fixed lengths a batch of ``full`` steps may be cut to: ``shortest``, doubling while
    below ``full``, then ``full`` itself (so at most half of a cut batch is padding)."""
    lengths = []
    while shortest < full:
        lengths.append(shortest)
        shortest *= 2
    return lengths + [full]


def update_trimmed(update, state, batch: Batch, key, seed_axis: str | None = None):
    """``update(state, batch, key)`` on ``batch`` cut to the shortest of ``trim_lengths`` that
    keeps every step an episode took and the all-padding step after the longest.

    Only for updates that use nothing but the fresh batch and read padding as absent (masked
    means, bootstrap only past non-terminated episodes): dropping trailing padding then changes
    nothing but the cost. Episodes mostly end far before the limit (2c_vs_64zg: ~20 of 400
    steps), and a whole-limit update would spend most of its time on zeros. Each length is
    compiled once; ``lax.switch`` runs only the chosen one. Under a ``vmap`` over seeds, pass
    its ``seed_axis``: the length is then the longest any seed needs, one value for all seeds
    (a per-seed choice would make ``vmap`` run every branch and select).
    """
    lengths = trim_lengths(batch.mask.shape[0])
    if len(lengths) == 1:
        return update(state, batch, key)
    needed = jnp.sum(jnp.any(batch.mask > 0, axis=1)).astype(jnp.int32) + 1
    if seed_axis is not None:
        needed = jax.lax.pmax(needed, seed_axis)
    index = jnp.sum(jnp.asarray(lengths) < needed)

    def cut_to(n):
        return lambda s, b, k: update(s, jax.tree.map(lambda x: x[:n], b), k)

    return jax.lax.switch(index, [cut_to(n) for n in lengths], state, batch, key)
