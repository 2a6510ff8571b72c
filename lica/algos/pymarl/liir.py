"""LIIR: learning individual intrinsic rewards (Du, Han, Fang et al., NeurIPS 2019).

Each agent ``i`` gets an intrinsic reward ``r^in_eta(i, u^i)`` from a network with parameters
``eta``; its proxy reward is ``r^proxy_i = r^ex + lambda r^in_i`` (LIIR Eq. 2) and a proxy critic
``V^proxy_i`` is fitted to it. Bi-level update per batch (LIIR Algorithm 1):

1. proxy critic: TD(lambda) regression of ``V^proxy_i`` on the proxy returns ``y^proxy_i``;
2. policy (LIIR Eq. 4): actor-critic step on ``A^proxy_i = y^proxy_i - V^proxy_i``,
   ``theta' = theta + alpha E[A^proxy_i grad log pi_theta(u^i|tau^i)]``;
3. intrinsic reward (LIIR Eq. 5-7): ascend the extrinsic objective after that step,
   ``grad_eta J^ex(theta'(eta))``, with ``J^ex(theta') ~ E[A^ex pi_theta'(u|tau) / pi_theta(u|tau)]``
   (joint importance ratio over agents, ``A^ex = y^ex - V^ex(s)`` from a centralized extrinsic
   value). JAX differentiates through the lookahead ``theta'(eta)``, so the chain rule
   ``grad_theta' J^ex * d theta' / d eta`` of Eq. 6-7 is exact, not hand-expanded.

Layout as the authors' PyMARL code (``src/learners/liir_learner.py``, ``modules/critics/liir.py``):
a shared 128-128 trunk on COMA's critic inputs feeds ``V^proxy_i`` and the per-action intrinsic
reward head ``10 tanh(x / 10)``; critic steps one per time step (``seq``), advantages normalized,
an epsilon floor on the policy, RMSProp. Simplifications, each to keep the update compact:

- the lookahead ``theta'`` is one plain gradient step with the policy learning rate (the paper's
  Eq. 4); the applied policy step uses RMSProp with the same gradient; the meta-gradient is
  scaled by ``1 / alpha`` (see ``meta_loss``);
- ``V^ex(s)`` is its own 128-128 MLP of the state (the paper's centralized value; the authors'
  code reads it off the trunk features of all agents, which also see the agents' actions); it is
  trained with ``eta`` by the intrinsic optimizer (``vf_coef`` weighted), as in their code.
"""

from typing import Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from lica import ops
from lica.algos.base import Algorithm
from lica.algos.pymarl import common
from lica.algos.pymarl.actor_critic import MLP, actor, critic_inputs, fit_critic, log_policy
from lica.algos.pymarl.coma import PRESETS as COMA_PRESETS
from lica.algos.pymarl.common import Probability, PymarlConfig, epsilon, take, unroll
from lica.nets import initialize


class Config(PymarlConfig):
    """LIIR's hyper-parameters: the authors' ``src/config/algs/liir_smac.yaml`` and
    ``default.yaml`` (PyMARL-based), constants from their learner and critic as cited."""

    lr_policy: PositiveFloat = 0.0005  # agents, liir_smac.yaml lr
    lr_critic: PositiveFloat = 0.0005  # proxy critic and intrinsic reward, liir_smac.yaml critic_lr
    td_lambda: Probability = 0.8  # liir_smac.yaml
    epsilon_start: Probability = 0.5  # exploration floor of the policy, liir_smac.yaml
    epsilon_finish: Probability = 0.01  # liir_smac.yaml
    epsilon_anneal_time: PositiveInt = 50_000  # env steps, liir_smac.yaml
    target_update_interval: PositiveInt = 200  # critic steps between target copies, liir_smac.yaml
    critic_hidden: PositiveInt = 128  # trunk width, modules/critics/liir.py
    critic_train_mode: Literal["seq", "batch"] = "seq"  # one critic step per time step, liir_learner.py
    intrinsic_scale: NonNegativeFloat = 0.01  # lambda of r^proxy = r^ex + lambda r^in, utils/rl_utils.py
    intrinsic_bound: PositiveFloat = 10.0  # r^in = b tanh(x / b), modules/critics/liir.py
    vf_coef: NonNegativeFloat = 1.0  # weight of the V^ex regression in the intrinsic loss, liir_learner.py
    normalize_advantages: bool = True  # A / std(A) after centring, for both advantages, liir_learner.py


# StarCraft (batch 32, the authors' setting and the paper's, Sec. 4.2) and the junction as for
# COMA: LICA's junction preset with Adam lr 0.01, no epsilon floor; same sources, same reasons.
PRESETS = list(COMA_PRESETS)


class ProxyCritic(nn.Module):
    """The trunk (two ReLU layers) and ``V^proxy_i`` on it; returns ``(features, v_proxy)``."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        features = nn.relu(MLP((self.hidden, self.hidden))(x))
        return features, nn.Dense(1)(features)[..., 0]


class IntrinsicReward(nn.Module):
    """``r^in`` of every action of agent ``i`` from its trunk features, bounded by ``b tanh(x/b)``."""

    n_actions: int
    bound: float

    @nn.compact
    def __call__(self, features):
        return self.bound * jnp.tanh(nn.Dense(self.n_actions)(features) / self.bound)


class LiirState(NamedTuple):
    policy: dict  # theta
    critic: dict  # proxy critic
    intrinsic: dict  # eta: {"r_in": ..., "v_ex": ...}
    target: dict  # {"critic": ..., "v_ex": ...}
    policy_opt: optax.OptState
    critic_opt: optax.OptState
    intrinsic_opt: optax.OptState
    critic_steps: jax.Array
    last_target_update: jax.Array
    env_steps: jax.Array


def normalize(x, mask, on):
    """Centre and scale ``x`` by its mean and standard deviation over valid entries."""
    if not on:
        return x
    mean = ops.masked_mean(x, mask)
    std = jnp.sqrt(ops.masked_mean((x - mean) ** 2, mask))
    return (x - mean) / (std + 1e-8)


class Parts(NamedTuple):
    """LIIR's networks and pure loss functions (``make`` wires them into an ``Algorithm``)."""

    policy: object
    proxy: ProxyCritic
    r_in: IntrinsicReward
    v_ex: MLP
    proxy_targets: object  # (eta_r_in, features, batch, target_v_proxy) -> y^proxy [T, B, N]
    policy_loss: object  # (theta, eta_r_in, batch, features, target_v_proxy, v_proxy, eps) -> scalar
    meta_loss: object  # (eta_r_in, theta, batch, features, target_v_proxy, v_proxy, adv_ex, eps) -> -J^ex(theta')


def build(spec, config: Config) -> Parts:
    n, a = spec.n_agents, spec.n_actions
    policy = common.agent_policy(spec, config)
    per_agent = lambda x: jnp.broadcast_to(x[..., None], x.shape + (n,))

    def proxy_targets(eta_r_in, features, batch, target_v_proxy):
        """LIIR Eq. 2-3: TD(lambda) returns of ``r^ex + lambda r^in_eta(i, u^i)`` per agent."""
        r_in = take(IntrinsicReward(a, config.intrinsic_bound).apply(eta_r_in, features), batch.actions)
        rewards = per_agent(batch.reward) + config.intrinsic_scale * r_in
        return ops.td_lambda_targets(rewards, per_agent(batch.terminated), per_agent(batch.mask), target_v_proxy,
                                     config.gamma, config.td_lambda)

    def log_pi_taken(theta, batch, eps):
        logits, _ = unroll(policy, theta, batch)
        return take(log_policy(logits[:-1], batch.avail[:-1], eps), batch.actions[:-1])  # [T, B, N]

    def policy_loss(theta, eta_r_in, batch, features, target_v_proxy, v_proxy, eps):
        """LIIR Eq. 4 as a loss: ``-E[A^proxy_i log pi_theta(u^i|tau^i)]``, ``A^proxy`` a function of eta."""
        mask = batch.mask[:-1, :, None]
        advantage = proxy_targets(eta_r_in, features, batch, target_v_proxy) - jax.lax.stop_gradient(v_proxy)
        advantage = normalize(advantage, mask, config.normalize_advantages)
        return -ops.masked_mean(advantage * log_pi_taken(theta, batch, eps), mask)

    def meta_loss(eta_r_in, theta, batch, features, target_v_proxy, v_proxy, adv_ex, eps):
        """LIIR Eq. 5-7: ``-J^ex(theta'(eta)) / alpha`` after the lookahead step
        ``theta' = theta - alpha grad_theta L^proxy(theta, eta)``, ``alpha`` the policy lr.

        ``J^ex = E[A^ex (pi_theta' / pi_theta - 1)]`` (the -1 changes no gradient and keeps the
        value precise). Dividing by ``alpha`` changes only the scale of the meta-gradient, to
        that of the authors' code (whose meta-gradient has no ``alpha``), so that it stays well
        above RMSProp's epsilon.
        """
        grads = jax.grad(policy_loss)(theta, eta_r_in, batch, features, target_v_proxy, v_proxy, eps)
        theta_new = jax.tree.map(lambda p, g: p - config.lr_policy * g, theta, grads)
        log_ratio = log_pi_taken(theta_new, batch, eps) - jax.lax.stop_gradient(log_pi_taken(theta, batch, eps))
        improvement = ops.masked_mean(adv_ex * jnp.expm1(jnp.sum(log_ratio, axis=-1)), batch.mask[:-1])
        return -improvement / config.lr_policy

    proxy = ProxyCritic(config.critic_hidden)
    return Parts(policy, proxy, IntrinsicReward(a, config.intrinsic_bound), MLP((config.critic_hidden,) * 2 + (1,)),
                 proxy_targets, policy_loss, meta_loss)


def make(spec, config: Config) -> Algorithm:
    n, a = spec.n_agents, spec.n_actions
    parts = build(spec, config)
    policy, proxy = parts.policy, parts.proxy
    policy_tx = common.optimizer(config.lr_policy, config)
    critic_tx = common.optimizer(config.lr_critic, config)
    intrinsic_tx = common.optimizer(config.lr_critic, config)
    input_dim = spec.state_dim + spec.obs_dim + 2 * n * a + n

    def init(key):
        pk, ck, rk, vk = jax.random.split(key, 4)
        theta, critic, eta = initialize(config.init, jax.random.fold_in(key, 1), (
            policy.init(pk), proxy.init(ck, jnp.zeros((input_dim,))),
            {"r_in": parts.r_in.init(rk, jnp.zeros((config.critic_hidden,))),
             "v_ex": parts.v_ex.init(vk, jnp.zeros((spec.state_dim,)))}))
        zero = jnp.zeros((), jnp.int32)
        return LiirState(theta, critic, eta, {"critic": critic, "v_ex": eta["v_ex"]}, policy_tx.init(theta),
                         critic_tx.init(critic), intrinsic_tx.init(eta), zero, zero, zero)

    init_carry, act = actor(policy, spec, config)

    def update(state, batch, key):
        eps = epsilon(config, state.env_steps)
        mask = batch.mask[:-1]
        inputs = critic_inputs(batch, n, a)
        features, _ = proxy.apply(state.critic, inputs)
        _, target_v_proxy = proxy.apply(state.target["critic"], inputs)
        eta = state.intrinsic

        # 1. proxy critic on the proxy returns (a constant here), one step per time step
        targets = parts.proxy_targets(eta["r_in"], features, batch, target_v_proxy)

        def critic_loss(params, d):
            v = proxy.apply(params, d["inputs"])[1]
            return ops.masked_mean((v - d["targets"]) ** 2, d["mask"][..., None]), v

        data = {"inputs": inputs[:-1], "targets": targets, "mask": mask}
        critic, critic_opt, steps, v_proxy, critic_loss_value = fit_critic(
            critic_loss, state.critic, state.critic_opt, critic_tx, data, config.critic_train_mode)

        # 2. policy step on the proxy advantage
        args = (batch, features, target_v_proxy, v_proxy)
        policy_loss, grads = jax.value_and_grad(parts.policy_loss)(state.policy, eta["r_in"], *args, eps)
        policy_params, policy_opt = ops.gradient_step(policy_tx, state.policy, state.policy_opt, grads)

        # 3. intrinsic reward by the meta-gradient of J^ex, and V^ex by TD(lambda) regression
        v_ex_target = parts.v_ex.apply(state.target["v_ex"], batch.state)[..., 0]
        ex_targets = ops.td_lambda_targets(batch.reward, batch.terminated, batch.mask, v_ex_target, config.gamma,
                                           config.td_lambda)

        def intrinsic_loss(eta):
            v_ex = parts.v_ex.apply(eta["v_ex"], batch.state[:-1])[..., 0]
            adv_ex = normalize(jax.lax.stop_gradient(ex_targets - v_ex), mask, config.normalize_advantages)
            meta = parts.meta_loss(eta["r_in"], state.policy, *args, adv_ex, eps)
            v_ex_loss = ops.masked_mean((v_ex - ex_targets) ** 2, mask)
            return meta + config.vf_coef * v_ex_loss, (meta, v_ex_loss)

        (_, (meta, v_ex_loss)), eta_grads = jax.value_and_grad(intrinsic_loss, has_aux=True)(eta)
        eta, intrinsic_opt = ops.gradient_step(intrinsic_tx, eta, state.intrinsic_opt, eta_grads)

        critic_steps = state.critic_steps + steps
        target, last_copy = common.copy_to_target(critic_steps, state.last_target_update,
                                                       config.target_update_interval,
                                                       {"critic": critic, "v_ex": eta["v_ex"]}, state.target)
        env_steps = state.env_steps + jnp.sum(batch.mask).astype(jnp.int32)
        state = LiirState(policy_params, critic, eta, target, policy_opt, critic_opt,
                          intrinsic_opt, critic_steps, last_copy, env_steps)
        r_in = take(parts.r_in.apply(eta["r_in"], features[:-1]), batch.actions[:-1])
        metrics = {"critic_loss": critic_loss_value, "policy_loss": policy_loss, "meta_loss": meta,
                   "v_ex_loss": v_ex_loss, "meta_grad_norm": optax.global_norm(eta_grads["r_in"]),
                   "intrinsic_reward_mean": ops.masked_mean(r_in, mask[..., None]),
                   "agent_grad_norm": optax.global_norm(grads), "epsilon": eps}
        return state, metrics

    return Algorithm(init, init_carry, act, update, on_policy=True)
