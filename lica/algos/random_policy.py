"""The uniform random policy, registered as ``random``: the baseline every learning result is
compared against.

It acts uniformly over the available actions and never learns, so ``lica train --algo random``
writes the same metrics as any algorithm, with a flat curve.
"""

import jax
import jax.numpy as jnp

from lica import ops
from lica.algos.base import Algorithm
from lica.config import TrainConfig
from lica.presets import JUNCTION_RUN


class Config(TrainConfig):
    pass


PRESETS = [
    ("mpe:*", {"eval_interval": 100_000}),
    ("junction", JUNCTION_RUN),
]


def make(spec, config: Config) -> Algorithm:
    def act(state, carry, obs, avail, key, greedy):
        probs = avail / jnp.sum(avail, axis=-1, keepdims=True)
        return jax.random.categorical(key, ops.mask_logits(jnp.zeros_like(avail), avail)), probs, carry

    return Algorithm(init=lambda key: (), init_carry=lambda batch_shape: (), act=act,
                     update=lambda state, batch, key: (state, {}))
