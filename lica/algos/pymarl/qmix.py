"""QMIX: monotonic value function factorisation (Rashid et al., ICML 2018).

``Q_tot(tau, u, s)`` mixes the agents' ``Q_i(tau^i, u^i)`` with a network whose weights come
from hypernetworks of the state and pass through an absolute value, so that
``dQ_tot / dQ_i >= 0`` (QMIX Eq. 5) and the greedy joint action is the agents' greedy actions.
Training is 1-step double Q-learning on replayed episodes (QMIX Eq. 6, PyMARL ``q_learner``,
``lica.algos.pymarl.value_based``).
"""

import flax.linen as nn
import jax.numpy as jnp
from pydantic import PositiveInt

from lica.algos.base import Algorithm
from lica.algos.pymarl import value_based
from lica.algos.pymarl.vdn import PRESETS as VDN_PRESETS


class Config(value_based.ValueConfig):
    """QMIX's hyper-parameters: the defaults are PyMARL ``src/config/algs/qmix.yaml`` over
    ``src/config/default.yaml`` (lr 0.0005, RMSProp, epsilon 1.0 -> 0.05 over 50k steps,
    buffer 5000 episodes, target copy every 200 episodes, double Q)."""

    mixing_embed: PositiveInt = 32  # mixing layer width, qmix.yaml mixing_embed_dim
    hypernet_embed: PositiveInt = 64  # hidden width of the 2-layer weight hypernets, qmix.yaml


# StarCraft and junction settings as for VDN (same sources, same reasons): the two differ only
# in the mixer.
PRESETS = list(VDN_PRESETS)


class QMixer(nn.Module):
    """QMIX's mixing network (Fig. 2 of the QMIX paper, PyMARL ``modules/mixers/qmix.py``).

    ``h = elu(Q @ |W1(s)| + b1(s))``, ``Q_tot = h @ |W2(s)| + V(s)``: W1, W2 from 2-layer
    hypernetworks (ReLU), b1 linear, V a 2-layer ReLU network; ``agent_qs [..., N]``, ``state
    [..., S]`` -> ``[...]``.
    """

    embed: int = 32
    hypernet_embed: int = 64

    @nn.compact
    def __call__(self, agent_qs, state):
        n = agent_qs.shape[-1]
        w1 = jnp.abs(nn.Dense(self.embed * n)(nn.relu(nn.Dense(self.hypernet_embed)(state))))
        w1 = w1.reshape(state.shape[:-1] + (n, self.embed))
        b1 = nn.Dense(self.embed)(state)
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", agent_qs, w1) + b1)
        w2 = jnp.abs(nn.Dense(self.embed)(nn.relu(nn.Dense(self.hypernet_embed)(state))))
        v = nn.Dense(1)(nn.relu(nn.Dense(self.embed)(state)))[..., 0]
        return jnp.sum(hidden * w2, axis=-1) + v


def make(spec, config: Config, seed_axis: str | None = None) -> Algorithm:
    net = QMixer(config.mixing_embed, config.hypernet_embed)
    init = lambda key: net.init(key, jnp.zeros((spec.n_agents,)), jnp.zeros((spec.state_dim,)))
    mixer = value_based.Mixer(init=init, loss=value_based.td_loss(net.apply, config))
    return value_based.make(spec, config, mixer, seed_axis)
