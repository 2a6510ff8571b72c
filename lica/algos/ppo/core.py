"""PPO for cooperative agents, the shared part of ``ippo`` and ``mappo``.

Beyond the paper: IPPO (de Witt et al., 2020) and MAPPO (Yu et al., NeurIPS 2022 Datasets and
Benchmarks) came after LICA and are now the strongest simple baselines on SMAC and SMAX. Both
train decentralized recurrent agents with shared parameters by the clipped surrogate objective
(Schulman et al., 2017) on advantages from GAE, with several epochs of minibatches per batch.
They differ only in what the value function sees: the agent's own observation (IPPO) or the
global state (MAPPO); either way one value per agent, from a network shared by all agents with
a one-hot agent id appended to its input.

The settings and networks follow JaxMARL's recurrent SMAX baselines (``baselines/IPPO/
ippo_rnn_smax.py``, ``baselines/MAPPO/mappo_rnn_smax.py``): segments of 128 steps from 128
environments, 4 epochs of 4 minibatches, Adam (eps 1e-5) with the learning rate annealed
linearly to 0 over the budget, global-norm clipping, advantages normalized per minibatch, the
value loss clipped like the ratio, and fc-GRU-fc-fc networks with orthogonal initialization.
Differences: IPPO's actor and critic are two networks here (JaxMARL's share the fc-GRU torso);
the actor also gets the agent id (shared parameters, as every agent here); minibatches split the
environments rather than the (environment, agent) pairs, so that one minibatch holds whole teams.
"""

from typing import Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from lica import ops
from lica.algos.base import Algorithm, softmax_actor
from lica.algos.pymarl.common import Probability, take, unroll
from lica.config import ConfigError, TrainConfig
from lica.nets import initialize, make_agent_policy


class Config(TrainConfig):
    """PPO's hyper-parameters; defaults are JaxMARL's MAPPO on SMAX
    (``baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml``)."""

    rollout: Literal["episodes", "segments"] = "segments"  # PPO learns from segments of ongoing episodes
    batch_size: PositiveInt = 128  # parallel environments (NUM_ENVS)
    segment_length: PositiveInt = 128  # env steps per segment (NUM_STEPS)
    lr_policy: PositiveFloat = 0.002  # LR, annealed linearly to 0 over env_steps (ANNEAL_LR)
    lr_critic: PositiveFloat = 0.002  # LR (one for both networks in JaxMARL)
    anneal_lr: bool = True
    epochs: PositiveInt = 4  # passes over each batch (UPDATE_EPOCHS)
    minibatches: PositiveInt = 4  # per epoch, each a share of the environments (NUM_MINIBATCHES)
    gamma: Probability = 0.99
    td_lambda: Probability = 0.95  # the lambda of GAE (GAE_LAMBDA), as of every lambda-return here
    clip_eps: PositiveFloat = 0.2  # ratio clip of the surrogate, and of the value change (CLIP_EPS)
    entropy_coef: NonNegativeFloat = 0.0  # entropy bonus (ENT_COEF)
    vf_coef: PositiveFloat = 0.5  # value loss weight (VF_COEF)
    grad_clip: PositiveFloat = 0.25  # global L2 norm per network (MAX_GRAD_NORM)
    agent: Literal["rnn", "mlp"] = "rnn"  # fc-GRU-fc-fc, or the same without the GRU
    hidden: PositiveInt = 128  # every hidden layer (FC_DIM_SIZE, GRU_HIDDEN_DIM)
    # "flax": the networks' own initializers, JaxMARL's orthogonal ones (``Net``); "torch":
    # redrawn from PyTorch's defaults (``lica.nets.initialize``).
    init: Literal["torch", "flax"] = "flax"


class Net(nn.Module):
    """JaxMARL's PPO networks: fc -> ReLU -> GRU (if recurrent) -> fc -> ReLU -> fc(out), with
    orthogonal kernels of gain sqrt(2), 2 and ``out_gain`` (0.01 for the actor, so it starts
    near uniform; 1 for the critic) and zero biases."""

    hidden: int
    out: int
    out_gain: float
    recurrent: bool

    @nn.compact
    def __call__(self, carry, x):
        orthogonal = nn.initializers.orthogonal
        h = nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(np.sqrt(2)))(x))
        if self.recurrent:
            carry, h = nn.GRUCell(self.hidden)(carry, h)
        h = nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(2.0))(h))
        return carry, nn.Dense(self.out, kernel_init=orthogonal(self.out_gain))(h)


def gae(rewards, terminated, mask, values, gamma, lam):
    """Generalized advantage estimates (Schulman et al., 2016) for steps ``0..T-1``.

    ``A_t = delta_t + gamma lam (1 - terminated_t) A_{t+1}``, ``delta_t = r_t + gamma (1 -
    terminated_t) V_{t+1} - V_t``, bootstrapping from ``V_T``. ``A_t + V_t`` is the TD(lambda)
    return of Eq. 2 with ``V`` in place of the target critic, so it is computed as that
    (``ops.td_lambda_targets``, arguments as there) minus ``V``.
    """
    returns = ops.td_lambda_targets(rewards, terminated, mask, values, gamma, lam)
    return returns - values[:-1]


def clipped_surrogate(log_ratio, advantage, clip_eps):
    """PPO's clipped objective as a loss, per entry: ``-min(r A, clip(r, 1-eps, 1+eps) A)``
    with ``r = exp(log_ratio)`` the new policy's probability over the old one's."""
    ratio = jnp.exp(log_ratio)
    return -jnp.minimum(ratio * advantage, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage)


def clipped_value_loss(values, old_values, targets, clip_eps):
    """Half the larger squared error of the new value and of the new value kept within
    ``clip_eps`` of the old one, per entry (JaxMARL's and MAPPO's value clipping)."""
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * jnp.maximum((values - targets) ** 2, (clipped - targets) ** 2)


def normalized(x, mask):
    """``x`` standardized over the entries where ``mask`` is 1."""
    mean = ops.masked_mean(x, mask)
    std = jnp.sqrt(ops.masked_mean((x - mean) ** 2, mask))
    return (x - mean) / (std + 1e-8)


def envs_of(batch, index):
    """The batch restricted to the environments ``index`` (axis 1; the carry's axis 0), without
    the whole batch's padding summaries (``valid_steps``, ``lanes``)."""
    carry0 = jax.tree.map(lambda x: x[index], batch.carry0)
    steps = batch._replace(carry0=None, valid_steps=None, lanes=None)
    return jax.tree.map(lambda x: x[:, index], steps)._replace(carry0=carry0)


class PPOState(NamedTuple):
    policy: dict
    critic: dict
    policy_opt: optax.OptState
    critic_opt: optax.OptState
    # The critic's hidden state entering the next segment, per environment: the actors carry
    # theirs in the rollout, but the critic's input (the global state) is not the actors'.
    critic_carry: jax.Array
    env_steps: jax.Array  # drives the learning-rate annealing


def make(spec, config: Config, critic_sees: Literal["obs", "state"]) -> Algorithm:
    """PPO with a value function of each agent's observation (IPPO) or of the state (MAPPO)."""
    n, a = spec.n_agents, spec.n_actions
    if config.batch_size % config.minibatches:
        raise ConfigError(f"batch_size ({config.batch_size}) must be a multiple of minibatches ({config.minibatches})")
    recurrent = config.agent == "rnn"
    policy = make_agent_policy(n, spec.obs_dim, a, config.hidden, recurrent, True, False,
                               net=Net(config.hidden, a, 0.01, recurrent))
    critic_dim = spec.state_dim if critic_sees == "state" else spec.obs_dim
    critic = make_agent_policy(n, critic_dim, 1, config.hidden, recurrent, True, False,
                               net=Net(config.hidden, 1, 1.0, recurrent))

    def optimizer(lr):
        return optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.scale_by_adam(eps=1e-5),
                           optax.scale(-lr))

    def init(key):
        pk, ck = jax.random.split(key)
        policy_params, critic_params = initialize(config.init, jax.random.fold_in(key, 1),
                                                  (policy.init(pk), critic.init(ck)))
        return PPOState(policy_params, critic_params, optimizer(1.0).init(policy_params),
                        optimizer(1.0).init(critic_params), critic.init_carry((config.batch_size,)),
                        jnp.zeros((), jnp.int32))

    init_carry, act = softmax_actor(policy, a)

    def critic_inputs(batch):
        if critic_sees == "obs":
            return batch.obs
        return jnp.broadcast_to(batch.state[..., None, :], batch.obs.shape[:-1] + batch.state.shape[-1:])

    def values_of(params, batch, hidden0):
        values, hidden = unroll(critic, params, batch, critic_inputs(batch), hidden0)
        return values[..., 0], hidden

    def minibatch_step(state, data, lr_scale):
        """One gradient step of each network on a minibatch of whole environments."""
        batch, hidden0, old_values, advantages, targets = data
        mask = jnp.broadcast_to(batch.mask[:-1, :, None], advantages.shape)
        actions, avail = batch.actions[:-1], batch.avail[:-1]
        old_log_pi = jnp.log(jnp.where(mask > 0, jnp.maximum(take(batch.probs[:-1], actions), 1e-30), 1.0))

        def policy_loss(params):
            logits = unroll(policy, params, batch)[0][:-1]
            log_pi = take(jax.nn.log_softmax(ops.mask_logits(logits, avail)), actions)
            log_ratio = jnp.where(mask > 0, log_pi - old_log_pi, 0.0)
            surrogate = ops.masked_mean(clipped_surrogate(log_ratio, normalized(advantages, mask), config.clip_eps),
                                        mask)
            entropy = ops.masked_mean(ops.categorical_entropy(logits, avail), mask)
            clipped = ops.masked_mean(jnp.abs(jnp.exp(log_ratio) - 1.0) > config.clip_eps, mask)
            approx_kl = ops.masked_mean(jnp.exp(log_ratio) - 1.0 - log_ratio, mask)
            return surrogate - config.entropy_coef * entropy, (entropy, clipped, approx_kl)

        def value_loss(params):
            values = values_of(params, batch, hidden0)[0][:-1]
            return config.vf_coef * ops.masked_mean(clipped_value_loss(values, old_values, targets, config.clip_eps),
                                                    mask)

        (p_loss, (entropy, clipped, kl)), p_grads = jax.value_and_grad(policy_loss, has_aux=True)(state.policy)
        v_loss, v_grads = jax.value_and_grad(value_loss)(state.critic)
        policy_params, policy_opt = ops.gradient_step(optimizer(config.lr_policy * lr_scale), state.policy,
                                                      state.policy_opt, p_grads)
        critic_params, critic_opt = ops.gradient_step(optimizer(config.lr_critic * lr_scale), state.critic,
                                                      state.critic_opt, v_grads)
        metrics = {"policy_loss": p_loss, "value_loss": v_loss, "policy_entropy": entropy, "clip_fraction": clipped,
                   "approx_kl": kl, "policy_grad_norm": optax.global_norm(p_grads)}
        return state._replace(policy=policy_params, critic=critic_params, policy_opt=policy_opt,
                              critic_opt=critic_opt), metrics

    def update(state, batch, key):
        """GAE from the critic as it collected the batch, then ``epochs`` passes of
        ``minibatches`` steps, each over a random share of the environments."""
        hidden0 = None if batch.first is None else state.critic_carry
        values, hidden = values_of(state.critic, batch, hidden0)
        per_agent = lambda x: jnp.broadcast_to(x[..., None], x.shape + (n,))  # noqa: E731
        advantages = gae(per_agent(batch.reward), per_agent(batch.terminated), per_agent(batch.mask), values,
                         config.gamma, config.td_lambda)
        targets = advantages + values[:-1]
        lr_scale = jnp.maximum(0.0, 1.0 - state.env_steps / config.env_steps) if config.anneal_lr else 1.0
        n_envs = batch.mask.shape[1]
        start = critic.init_carry((n_envs,)) if hidden0 is None else hidden0

        def epoch(state, epoch_key):
            groups = jax.random.permutation(epoch_key, n_envs).reshape(config.minibatches, -1)

            def step(state, index):
                data = (envs_of(batch, index), start[index], values[:-1, index], advantages[:, index],
                        targets[:, index])
                return minibatch_step(state, data, lr_scale)

            return jax.lax.scan(step, state, groups)

        state, metrics = jax.lax.scan(epoch, state, jax.random.split(key, config.epochs))
        metrics = jax.tree.map(jnp.mean, metrics)
        mask = batch.mask[:-1, :, None]
        metrics.update(value_mean=ops.masked_mean(values[:-1], mask), advantage_abs_mean=ops.masked_mean(
            jnp.abs(advantages), mask), lr_policy=config.lr_policy * lr_scale)
        # The critic's carry entering the next segment: its state after the segment's last step.
        carry = state.critic_carry if hidden0 is None else hidden[-2]
        env_steps = state.env_steps + jnp.sum(batch.mask).astype(jnp.int32)
        return state._replace(critic_carry=carry, env_steps=env_steps), metrics

    return Algorithm(init, init_carry, act, update, on_policy=True)
