"""VDN: Value-Decomposition Networks (Sunehag et al., AAMAS 2018).

The joint action value is the sum of the agents' utilities, ``Q_tot(tau, u) = sum_i Q_i(tau^i,
u^i)`` (VDN Eq. 1), trained end to end with 1-step double Q-learning on episodes replayed from a
buffer, as PyMARL's ``q_learner`` with ``mixer: vdn`` does (``lica.algos.pymarl.value_based``).
"""

import jax.numpy as jnp

from lica.algos.base import Algorithm
from lica.algos.pymarl import value_based
from lica.presets import JUNCTION_AGENTS, JUNCTION_RUN


class Config(value_based.ValueConfig):
    """VDN's hyper-parameters: the defaults are PyMARL ``src/config/algs/vdn.yaml`` over
    ``src/config/default.yaml`` (lr 0.0005, RMSProp, epsilon 1.0 -> 0.05 over 50k steps,
    buffer 5000 episodes, target copy every 200 episodes, double Q)."""


# (env pattern, overrides), merged in order by ``lica.presets.lookup``.
PRESETS = [
    # Traffic junction (our learning check, not a paper setting): the 32-unit MLP agents, Adam
    # lr 0.01 and 64 episodes per update of LICA's junction preset; epsilon anneals 1 -> 0.05
    # over 1,280 steps (20 updates) and a small buffer forgets the uniform early data, so the
    # greedy joint action can settle in one of the two optima. Episodes end after one step, so
    # targets are the rewards and the target network plays no role.
    ("junction", {**JUNCTION_RUN, **JUNCTION_AGENTS, "optimizer": "adam", "lr": 0.01, "epsilon_anneal_time": 1280,
                  "buffer_size": 256, "target_update_interval": 64}),
]


def mix(params, agent_qs, state):
    """VDN Eq. 1: ``Q_tot = sum_i Q_i`` (no parameters, no state)."""
    return jnp.sum(agent_qs, axis=-1)


def make(spec, config: Config, seed_axis: str | None = None) -> Algorithm:
    mixer = value_based.Mixer(init=lambda key: {}, loss=value_based.td_loss(mix, config))
    return value_based.make(spec, config, mixer, seed_axis)
