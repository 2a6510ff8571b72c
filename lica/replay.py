"""A replay buffer of whole episodes, stored as the same ``Batch`` the rollouts produce.

Value-based algorithms (VDN, QMIX, QTRAN) sample episodes; DDPG-family algorithms sample
transitions, which come out as one-step ``Batch`` values (``T = 1``: step 0 is the transition,
step 1 the next observation to bootstrap from), so every algorithm still consumes one type.
The buffer is a pytree, so it lives inside an algorithm's state and is vmapped over seeds.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lica.batch import Batch


class Replay(NamedTuple):
    data: Batch  # every field [capacity, T+1, ...] (episode-major for cheap writes)
    insert_at: jax.Array  # next slot to write
    size: jax.Array  # episodes stored so far, at most capacity


def init(example: Batch, capacity: int) -> Replay:
    """An empty buffer for episodes shaped like ``example`` (a time-major batch)."""
    data = jax.tree.map(lambda x: jnp.zeros((capacity, x.shape[0]) + x.shape[2:], x.dtype), example)
    return Replay(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(replay: Replay, batch: Batch) -> Replay:
    """Insert a time-major batch of B episodes, overwriting the oldest when full.

    Empty episodes (all padding, as ``lica.trainer`` hands a seed that has already reached its
    evaluation point) are not stored: their writes are dropped, so the buffer is untouched and
    is updated in place rather than copied.
    """
    capacity = replay.data.mask.shape[0]
    kept = jnp.any(batch.mask > 0, axis=0)
    order = jnp.cumsum(kept) - 1
    slots = jnp.where(kept, (replay.insert_at + order) % capacity, capacity)  # out of range: dropped
    data = jax.tree.map(lambda buf, x: buf.at[slots].set(jnp.swapaxes(x, 0, 1), mode="drop"), replay.data, batch)
    n = jnp.sum(kept).astype(jnp.int32)
    return Replay(data, (replay.insert_at + n) % capacity, jnp.minimum(replay.size + n, capacity))


def sample_episodes(replay: Replay, key, n: int) -> Batch:
    """``n`` stored episodes, uniformly with replacement, as a time-major ``Batch``."""
    idx = jax.random.randint(key, (n,), 0, jnp.maximum(replay.size, 1))
    return jax.tree.map(lambda buf: jnp.swapaxes(buf[idx], 0, 1), replay.data)


def sample_transitions(replay: Replay, key, n: int) -> Batch:
    """``n`` valid transitions, uniformly over stored steps, as a one-step ``Batch`` ``[2, n, ...]``.

    Step 1 carries the next observation, state and availability (and the action recorded there);
    its reward, termination and mask are zero, like the bootstrap step of an episode.
    """
    ep_key, t_key = jax.random.split(key)
    episodes = jax.random.randint(ep_key, (n,), 0, jnp.maximum(replay.size, 1))
    lengths = jnp.maximum(jnp.sum(replay.data.mask[episodes], axis=1), 1).astype(jnp.int32)
    t = jax.random.randint(t_key, (n,), 0, lengths)

    def pick(buf, offset, zero_step):
        x = buf[episodes, t + offset]
        return jnp.zeros_like(x) if zero_step else x

    data = replay.data
    steps = [Batch(**{name: pick(buf, offset, offset == 1 and name in ("reward", "terminated", "mask"))
                      for name, buf in data._asdict().items() if buf is not None}) for offset in (0, 1)]
    return jax.tree.map(lambda a, b: jnp.stack([a, b]), *steps)
