"""VDN: Value-Decomposition Networks (Sunehag et al., AAMAS 2018).

The joint action value is the sum of the agents' utilities, ``Q_tot(tau, u) = sum_i Q_i(tau^i,
u^i)`` (VDN Eq. 1), trained end to end with 1-step double Q-learning on episodes replayed from a
buffer, as PyMARL's ``q_learner`` with ``mixer: vdn`` does (``lica.algos.pymarl.value_based``).
"""

import jax.numpy as jnp

from lica.algos.base import Algorithm
from lica.algos.pymarl import value_based


class Config(value_based.ValueConfig):
    """VDN's hyper-parameters: the defaults are PyMARL ``src/config/algs/vdn.yaml`` over
    ``src/config/default.yaml`` (lr 0.0005, RMSProp, epsilon 1.0 -> 0.05 over 50k steps,
    buffer 5000 episodes, target copy every 200 episodes, double Q)."""


# (env pattern, overrides), merged in order by ``lica.presets.lookup``.
PRESETS = [
    # StarCraft: the paper aligns every method on batches of 32 episodes from 32 parallel
    # environments (Sec. 4.2, following LIIR), evaluated every 320k steps with 32 episodes.
    ("smac:*", {"batch_size": 32, "eval_interval": 320_000, "eval_episodes": 32}),
    # Traffic junction (our learning check, not a paper setting): the 32-unit MLP agents, Adam
    # lr 0.01 and 64 episodes per update of LICA's junction preset; epsilon anneals 1 -> 0.05
    # over 1,280 steps (20 updates) and a small buffer forgets the uniform early data, so the
    # greedy joint action can settle in one of the two optima. Episodes end after one step, so
    # targets are the rewards and the target network plays no role.
    ("junction", {"agent": "mlp", "hidden": 32, "share_params": False, "last_action_input": False,
                  "optimizer": "adam", "lr": 0.01, "epsilon_anneal_time": 1280, "buffer_size": 256,
                  "target_update_interval": 64,
                  "batch_size": 64, "env_steps": 60 * 64, "eval_interval": 640, "eval_episodes": 1}),
]


def mix(params, agent_qs, state):
    """VDN Eq. 1: ``Q_tot = sum_i Q_i`` (no parameters, no state)."""
    return jnp.sum(agent_qs, axis=-1)


def make(spec, config: Config) -> Algorithm:
    mixer = value_based.Mixer(init=lambda key: {}, loss=value_based.td_loss(mix, config))
    return value_based.make(spec, config, mixer)
