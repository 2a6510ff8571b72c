"""Whole episodes packed end to end into half as many rows ("lanes") for the agents'
recurrent unroll.

A batch of B whole episodes cut to T steps (``lica.trim.update_trimmed``) is mostly padding:
about half its steps early in training on 2s3z, where battles end at different times. A
per-step computation skips the padding (``ops.on_valid_rows``), but the unroll steps every row
at every step, and its cost is about proportional to rows x steps (smac:2s3z shapes, one core,
forward and backward: 19 / 32 / 78 ms on 8 / 16 / 32 rows of 121 steps).

Placed one after another in ``lane_count(B)`` lanes, each followed by its final observation
and with the hidden state reset where it begins, the episodes give the unroll's outputs on rows.
``pack_episodes`` places them so that the fullest lane is short: longest first, each into the
fullest lane it still fits in within T steps (best fit), or into the lane filled least so far
(which balances the lanes: about the valid steps / lanes each), whichever packing ends sooner.
Lanes longer than T let episodes longer than T / 2 share a lane (a trained 2s3z policy's
battles of 60-80 steps, cut to 121).

Shapes are static, so ``run_in_lanes`` compiles a few lane lengths (``lane_steps``) and a
``lax.switch`` runs the shortest that holds the fullest lane, or the batch as it is where none
does. Each branch is rematerialized (``jax.checkpoint``): a ``switch`` otherwise keeps, for its
backward pass, the residuals of every branch (zeros for those not taken), which cost as much
as the lanes saved.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Lanes(NamedTuple):
    """Where each of a batch's B episodes lies once packed: ``lane [B]`` and the step ``offset
    [B]`` where it begins there; ``used``, the steps of the fullest lane (under a ``vmap`` over
    seeds, the most any seed needs, so that every seed takes the same branch)."""

    lane: jax.Array
    offset: jax.Array
    used: jax.Array


def episode_lengths(mask):
    """Steps each whole episode took, from ``mask [T, B]`` (1 on the steps that happened)."""
    return jnp.sum(mask > 0, axis=0).astype(jnp.int32)


def lane_count(batch_size: int) -> int:
    """The lanes a batch of ``batch_size`` episodes is packed into: half as many."""
    return -(-batch_size // 2)


def lane_steps(steps: int) -> list[int]:
    """The lane lengths compiled for a batch cut to ``steps``: ``steps`` and a quarter and a half
    longer. (Twice as long would cost what the batch as it is costs, which serves instead.) No
    lanes where the longest is under 4 steps: an episode takes two or more (a step and its final
    observation), so such lanes could not hold the B episodes (the 1-step traffic junction)."""
    lengths = [steps, -(-steps * 5 // 4), -(-steps * 3 // 2)]
    return lengths if lengths[-1] >= 4 else []


def pack(lengths, n_lanes: int, capacities=(0,)) -> Lanes:
    """Each episode, longest first, taking ``lengths[b] + 1`` steps (the extra one holds its final
    observation), into the fullest lane where it still fits within ``capacity`` steps, or, where
    it fits in none, into the lane with the fewest steps so far. Packed once for each of
    ``capacities`` (0: always the least filled lane), the packing whose fullest lane is shortest."""
    slots = lengths + 1
    n = lengths.shape[0]
    order = jnp.argsort(-slots, stable=True)

    def packed(capacity):
        def place(carry, b):
            fill, lane, offset = carry
            fits = fill + slots[b] <= capacity
            r = jnp.where(jnp.any(fits), jnp.argmax(jnp.where(fits, fill, -1)), jnp.argmin(fill))
            return (fill.at[r].add(slots[b]), lane.at[b].set(r), offset.at[b].set(fill[r])), None

        start = (jnp.zeros(n_lanes, jnp.int32), jnp.zeros(n, jnp.int32), jnp.zeros(n, jnp.int32))
        (fill, lane, offset), _ = jax.lax.scan(place, start, order)
        return Lanes(lane, offset, jnp.max(fill))

    every = jax.vmap(packed)(jnp.asarray(capacities, jnp.int32))
    return jax.tree.map(lambda x: x[jnp.argmin(every.used)], every)


def pack_episodes(mask) -> Lanes:
    """The lanes for a batch with ``mask [T, B]``: ``pack`` into ``lane_count(B)`` lanes, best fit
    within T steps against always the least filled lane. (Balancing alone put 5 of 12 early
    2s3z batches into lanes of 5/4 T that best fit packs into T.)"""
    steps, batch = mask.shape
    return pack(episode_lengths(mask), lane_count(batch), (0, steps))


def _positions(lanes: Lanes, lengths, steps: int, capacity: int):
    """``(step, lane) [T, B]`` of each episode's step in the lanes; ``step = capacity`` (out of
    range) for the steps after its final observation."""
    s = jnp.arange(steps)[:, None]
    step = jnp.where(s <= lengths, lanes.offset + s, capacity)
    return step, jnp.broadcast_to(lanes.lane, step.shape)


def _to_lanes(arrays, lanes: Lanes, positions, capacity: int, n_lanes: int):
    """``arrays`` (each ``[T, B, ...]``) laid out in lanes (``[capacity, n_lanes, ...]``, zeros
    where no episode is), and ``first [capacity, n_lanes]``, 1 where an episode begins."""
    step, lane = positions
    steps, batch = step.shape
    source_t = jnp.full((capacity, n_lanes), steps).at[step, lane].set(
        jnp.broadcast_to(jnp.arange(steps)[:, None], step.shape), mode="drop")
    source_b = jnp.zeros((capacity, n_lanes), jnp.int32).at[step, lane].set(
        jnp.broadcast_to(jnp.arange(batch), step.shape), mode="drop")
    first = jnp.zeros((capacity, n_lanes)).at[lanes.offset, lanes.lane].set(1.0, mode="drop")
    laid = [x.at[source_t, source_b].get(mode="fill", fill_value=0) for x in arrays]
    return laid, first


def run_in_lanes(fn, mask, lanes: Lanes, arrays):
    """``fn(*arrays, first)`` for whole episodes: ``fn`` maps inputs ``[T, R, ...]`` to outputs
    ``[T, R, ...]`` (a tuple), resetting its state where ``first [T, R]`` is 1 (``first`` is
    ``None`` on the batch as it is). Runs on ``lane_count(B)`` lanes of the shortest of
    ``lane_steps`` that holds the fullest, or on the batch as it is; outputs after an episode's
    final observation are padding (zeros from the lanes).
    Gradients flow to ``fn``'s closure and to ``arrays`` through the gathers."""
    steps, batch = mask.shape
    n_lanes, capacities = lane_count(batch), lane_steps(steps)
    lengths = episode_lengths(mask)

    def in_lanes(capacity):
        def branch(arrays):
            positions = _positions(lanes, lengths, steps, capacity)
            laid, first = _to_lanes(arrays, lanes, positions, capacity, n_lanes)
            return tuple(y.at[positions].get(mode="fill", fill_value=0) for y in fn(*laid, first))
        return branch

    branches = [in_lanes(c) for c in capacities] + [lambda arrays: tuple(fn(*arrays, None))]
    index = jnp.sum(jnp.asarray(capacities) < lanes.used)  # past the longest lanes: the rows
    return jax.lax.switch(index, [jax.checkpoint(b) for b in branches], arrays)
