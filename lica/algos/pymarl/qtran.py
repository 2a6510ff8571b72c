"""QTRAN-base (Son et al., ICML 2019), structured as PyMARL's ``qtran_learner``.

Besides the agents' ``Q_i`` QTRAN learns a joint action value ``Q_jt(s, u)`` and a state value
``V_jt(s)`` so that the factorization ``sum_i Q_i(tau^i, u^i) - Q_jt(s, u) + V_jt(s)`` is zero
at the greedy joint action and non-negative elsewhere (QTRAN Theorem 1). The loss (QTRAN Eq. 6,
with PyMARL's choices of where to stop gradients) is

- ``L_td   = E[(Q_jt(s, u) - y)^2]``, ``y = r + gamma (1-terminated) Q^-_jt(s', u'_greedy)``
  from the target networks, ``u'_greedy`` the online agents' argmax (double Q);
- ``L_opt  = E[(sum_i Q_i(tau^i, ubar^i) - [Q_jt(s, ubar)] + V_jt(s))^2]`` at the agents'
  greedy joint action ``ubar``;
- ``L_nopt = E[min(sum_i Q_i(tau^i, u^i) - [Q_jt(s, u)] + V_jt(s), 0)^2]`` at the taken action;

``L = L_td + lambda_opt L_opt + lambda_nopt L_nopt``, ``[.]`` a stopped gradient.
``Q_jt`` is PyMARL's ``qtran_paper`` architecture: each agent's (GRU hidden state, action one-hot)
is encoded by a 2-layer network, the encodings are summed over agents and fed with the state to
a 3-layer network. With ``agent='mlp'`` the agents have no hidden state (zeros), so ``Q_jt``
sees the state and the actions only.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
from pydantic import NonNegativeFloat, PositiveInt

from lica import ops
from lica.algos.base import Algorithm
from lica.algos.pymarl import value_based
from lica.algos.pymarl.common import take
from lica.algos.pymarl.value_based import greedy_actions
from lica.algos.pymarl.vdn import PRESETS as VDN_PRESETS


class Config(value_based.ValueConfig):
    """QTRAN's hyper-parameters: the defaults are PyMARL ``src/config/algs/qtran.yaml`` over
    ``src/config/default.yaml`` (lr 0.0005, RMSProp, epsilon 1.0 -> 0.05 over 50k steps,
    buffer 5000 episodes, target copy every 200 episodes, double Q)."""

    mixing_embed: PositiveInt = 64  # width of Q_jt and V_jt, qtran.yaml mixing_embed_dim (network_size: small)
    lambda_opt: NonNegativeFloat = 1.0  # qtran.yaml opt_loss
    lambda_nopt: NonNegativeFloat = 0.1  # qtran.yaml nopt_min_loss


# StarCraft and junction settings as for VDN (same sources, same reasons).
PRESETS = list(VDN_PRESETS)


def _mlp(x, widths):
    for i, width in enumerate(widths):
        x = nn.Dense(width)(x)
        x = nn.relu(x) if i < len(widths) - 1 else x
    return x


class QTranBase(nn.Module):
    """``(Q_jt(s, u), V_jt(s))`` from ``state [..., S]``, agent ``hidden [..., N, H]`` and
    ``actions [..., N, A]`` (one-hot), PyMARL ``modules/mixers/qtran.py`` (qtran_paper, small)."""

    embed: int = 64

    @nn.compact
    def __call__(self, state, hidden, actions):
        x = jnp.concatenate([hidden, actions], axis=-1)
        encoding = jnp.sum(_mlp(x, (x.shape[-1], x.shape[-1])), axis=-2)  # sum over agents
        q = _mlp(jnp.concatenate([state, encoding], axis=-1), (self.embed, self.embed, 1))[..., 0]
        v = _mlp(state, (self.embed, self.embed, 1))[..., 0]
        return q, v


def qtran_losses(joint_q, v, greedy_joint_q, next_joint_q, sum_greedy_q, sum_taken_q, reward, terminated, mask,
                 gamma):
    """``(L_td, L_opt, L_nopt)`` of QTRAN-base from the quantities of valid steps ``[T, B]``.

    ``joint_q = Q_jt(s_t, u_t)``, ``v = V_jt(s_t)``, ``greedy_joint_q = Q_jt(s_t, ubar_t)``,
    ``next_joint_q = Q^-_jt(s_{t+1}, ubar_{t+1})``, ``sum_greedy_q = sum_i max_u Q_i``,
    ``sum_taken_q = sum_i Q_i(u^i_t)``.
    """
    y = reward + gamma * (1.0 - terminated) * next_joint_q
    td = ops.masked_mean((joint_q - jax.lax.stop_gradient(y)) ** 2, mask)
    opt = ops.masked_mean((sum_greedy_q - jax.lax.stop_gradient(greedy_joint_q) + v) ** 2, mask)
    nopt = ops.masked_mean(jnp.minimum(sum_taken_q - jax.lax.stop_gradient(joint_q) + v, 0.0) ** 2, mask)
    return td, opt, nopt


def make(spec, config: Config, seed_axis: str | None = None) -> Algorithm:
    net = QTranBase(config.mixing_embed)
    n, a = spec.n_agents, spec.n_actions

    def init(key):
        return net.init(key, jnp.zeros((spec.state_dim,)), jnp.zeros((n, config.hidden)), jnp.zeros((n, a)))

    def loss(params, target_params, batch, online, target):
        (q, hidden), (target_q, target_hidden) = online, target
        greedy = greedy_actions(jax.lax.stop_gradient(q), batch.avail)  # [T+1, B, N]
        next_actions = greedy if config.double_q else greedy_actions(target_q, batch.avail)
        onehot = lambda u: jax.nn.one_hot(u, a)
        state, actions = batch.state[:-1], batch.actions[:-1]
        joint_q, v = net.apply(params, state, hidden[:-1], onehot(actions))
        greedy_joint_q, _ = net.apply(params, state, hidden[:-1], onehot(greedy[:-1]))
        next_joint_q, _ = net.apply(target_params, batch.state[1:], target_hidden[1:], onehot(next_actions[1:]))
        sum_greedy_q = jnp.sum(take(q[:-1], greedy[:-1]), axis=-1)
        sum_taken_q = jnp.sum(take(q[:-1], actions), axis=-1)
        mask = batch.mask[:-1]
        td, opt, nopt = qtran_losses(joint_q, v, greedy_joint_q, next_joint_q, sum_greedy_q, sum_taken_q,
                                     batch.reward[:-1], batch.terminated[:-1], mask, config.gamma)
        metrics = {"td_loss": td, "opt_loss": opt, "nopt_loss": nopt, "q_taken_mean": ops.masked_mean(joint_q, mask),
                   "v_mean": ops.masked_mean(v, mask)}
        return td + config.lambda_opt * opt + config.lambda_nopt * nopt, metrics

    return value_based.make(spec, config, value_based.Mixer(init, loss), seed_axis)
