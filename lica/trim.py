"""Cutting trailing padding off a batch of whole episodes, so that an update costs what its
episodes took rather than the episode limit.

Battles mostly end far before the limit (smac:2c_vs_64zg: ~20 of 400 steps; smac:MMM2 ~20 of
180), and a whole-limit update would spend most of its time on zeros. An update that reads
padding as absent (masked means, bootstrap only past non-terminated episodes) gives the same
result on the cut batch. The trainer cuts the fresh batch of on-policy updates; learners that
replay whole episodes (VDN, QMIX, QTRAN) cut the batch they sample.
"""

import jax
import jax.numpy as jnp

from lica import ops, packing
from lica.batch import Batch


def trim_lengths(full: int, shortest: int = 32) -> list[int]:
    """The fixed lengths a batch of ``full`` steps may be cut to: ``shortest``, doubling while
    below ``full``, then ``full`` itself (so at most half of a cut batch is padding)."""
    lengths = []
    while shortest < full:
        lengths.append(shortest)
        shortest *= 2
    return lengths + [full]


def trim_choice(mask, seed_axis: str | None = None):
    """``(index, valid)``: which of ``trim_lengths(T)`` a batch with ``mask [T, B]`` is cut to
    (the shortest that keeps every step an episode took and the all-padding step after the
    longest), and its number of valid steps; under a seed ``vmap``, the most any seed needs."""
    needed = ops.seeds_max(jnp.sum(jnp.any(mask > 0, axis=1)).astype(jnp.int32) + 1, seed_axis)
    valid = ops.seeds_max(jnp.sum(mask).astype(jnp.int32), seed_axis)
    return ops.fitting_index(trim_lengths(mask.shape[0]), needed), valid


def update_trimmed(update, state, batch: Batch, key, seed_axis: str | None = None, pack: bool = True):
    """``update(state, batch, key)`` on ``batch`` cut to the shortest of ``trim_lengths`` that
    keeps every step an episode took and the all-padding step after the longest.

    Only for updates that read padding as absent (this module's docstring): dropping trailing
    padding then changes nothing but the cost. Each length is compiled once; ``lax.switch``
    runs only the chosen one. Under a ``vmap`` over seeds, pass its ``seed_axis``: the length is
    then the longest any seed needs, one value for all seeds (a per-seed choice would make
    ``vmap`` run every branch and select). ``Batch.valid_steps`` and, with ``pack`` (where the
    episodes are long enough to share lanes: ``packing.lane_steps``), ``Batch.lanes`` are set
    likewise: the most valid steps, and lane steps, any seed's batch needs.
    """
    lengths = trim_lengths(batch.mask.shape[0])
    index, valid = trim_choice(batch.mask, seed_axis)

    def summarized(b):  # valid_steps and lanes of the cut batch, the same for every seed
        if not (pack and packing.lane_steps(b.mask.shape[0])):
            return b._replace(valid_steps=valid)
        lanes = packing.pack_episodes(b.mask)
        used = ops.seeds_max(lanes.used, seed_axis)
        return b._replace(valid_steps=valid, lanes=lanes._replace(used=used))

    if len(lengths) == 1:
        return update(state, summarized(batch), key)

    def cut_to(n):
        return lambda s, b, k: update(s, summarized(jax.tree.map(lambda x: x[:n], b)), k)

    return jax.lax.switch(index, [cut_to(n) for n in lengths], state, batch, key)
