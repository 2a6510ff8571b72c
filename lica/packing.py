"""Whole episodes packed end to end into fewer rows ("lanes") for the agents' unroll.

A batch of B whole episodes cut to T steps (``lica.trim.update_trimmed``) is mostly padding
early in training: on 2s3z about half its steps come after a battle ended. A per-step
computation skips them (``ops.on_valid_rows``), but the agents' recurrent unroll runs on every
row at every step. Placed one after another in R < B lanes of the same T steps, with the hidden
state reset where each episode begins, the episodes give the same outputs on fewer rows: the
unroll's cost is about proportional to its rows (smac:2s3z shapes, an early batch, one core:
40 ms forward and backward in 16 lanes against 67 ms on 32 rows, ``docs/results.md``).

The lane count is data-dependent and shapes are static, so ``run_in_lanes`` compiles a few lane
counts (``lane_counts``) and a ``lax.switch`` runs the fewest that holds the batch. Each branch is
rematerialized (``jax.checkpoint``): a ``switch`` otherwise keeps, for its backward pass, the
residuals of every branch (zeros for those not taken), which cost as much as the lanes saved.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Lanes(NamedTuple):
    """Where each of a batch's B episodes lies once packed: ``lane [B]`` and the step ``offset
    [B]`` where it begins there; ``used``, the lanes needed (under a ``vmap`` over seeds, the most
    any seed needs, so that every seed takes the same branch)."""

    lane: jax.Array
    offset: jax.Array
    used: jax.Array


def episode_lengths(mask):
    """Steps each whole episode took, from ``mask [T, B]`` (1 on the steps that happened)."""
    return jnp.sum(mask > 0, axis=0).astype(jnp.int32)


def pack(lengths, capacity: int) -> Lanes:
    """First-fit decreasing: each episode, longest first, goes into the first lane with room for
    its ``lengths[b] + 1`` steps (the extra one holds its final observation). Every episode fits
    in an empty lane (``capacity`` exceeds the longest), so B lanes always suffice."""
    slots = lengths + 1
    n = lengths.shape[0]

    def place(carry, b):
        fill, lane, offset = carry
        r = jnp.argmax(fill + slots[b] <= capacity)
        return (fill.at[r].add(slots[b]), lane.at[b].set(r), offset.at[b].set(fill[r])), None

    start = (jnp.zeros(n, jnp.int32),) * 3
    (fill, lane, offset), _ = jax.lax.scan(place, start, jnp.argsort(-slots, stable=True))
    return Lanes(lane, offset, jnp.sum(fill > 0).astype(jnp.int32))


def lane_counts(batch_size: int) -> list[int]:
    """The lane counts compiled: half and three quarters of the batch. (Each count compiles the
    unroll again: a quarter too made smac:2s3z LICA's update compile in 34 s instead of 27 s,
    against 21 s without lanes.)"""
    return sorted({-(-batch_size * q // 4) for q in (2, 3)} - {batch_size})


def _positions(lanes: Lanes, lengths, steps: int):
    """``(step, lane) [T, B]`` of each episode's step in the lanes; ``step = T`` (out of range)
    for the steps after its final observation."""
    s = jnp.arange(steps)[:, None]
    step = jnp.where(s <= lengths, lanes.offset + s, steps)
    return step, jnp.broadcast_to(lanes.lane, step.shape)


def _to_lanes(arrays, lanes: Lanes, positions, n_lanes: int):
    """``arrays`` (each ``[T, B, ...]``) laid out in ``n_lanes`` lanes (``[T, n_lanes, ...]``,
    zeros where no episode is) at ``positions`` (``_positions``), and ``first [T, n_lanes]``, 1
    where an episode begins."""
    step, lane = positions
    steps, batch = step.shape
    source_t = jnp.full((steps, n_lanes), steps).at[step, lane].set(
        jnp.broadcast_to(jnp.arange(steps)[:, None], step.shape), mode="drop")
    source_b = jnp.zeros((steps, n_lanes), jnp.int32).at[step, lane].set(
        jnp.broadcast_to(jnp.arange(batch), step.shape), mode="drop")
    first = jnp.zeros((steps, n_lanes)).at[lanes.offset, lanes.lane].set(1.0, mode="drop")
    laid = [x.at[source_t, source_b].get(mode="fill", fill_value=0) for x in arrays]
    return laid, first


def run_in_lanes(fn, mask, lanes: Lanes, arrays):
    """``fn(*arrays, first)`` for whole episodes: ``fn`` maps inputs ``[T, R, ...]`` to outputs
    ``[T, R, ...]`` (a tuple), resetting its state where ``first [T, R]`` is 1 (``first`` is
    ``None`` on the batch as it is). Runs on the fewest of ``lane_counts`` lanes that holds the
    episodes, or on the batch as it is; outputs after an episode's final observation are
    padding (zeros from the lanes).
    Gradients flow to ``fn``'s closure and to ``arrays`` through the gathers."""
    positions = _positions(lanes, episode_lengths(mask), mask.shape[0])
    step, lane = positions
    counts = lane_counts(mask.shape[1])

    def in_lanes(n_lanes):
        def branch(arrays):
            laid, first = _to_lanes(arrays, lanes, positions, n_lanes)
            return tuple(y.at[step, lane].get(mode="fill", fill_value=0) for y in fn(*laid, first))
        return branch

    index = jnp.sum(jnp.asarray(counts) < lanes.used) if counts else 0
    branches = [in_lanes(n) for n in counts] + [lambda arrays: tuple(fn(*arrays, None))]
    return jax.lax.switch(index, [jax.checkpoint(b) for b in branches], arrays)
