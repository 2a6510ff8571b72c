"""COMA: counterfactual multi-agent policy gradients (Foerster et al., AAAI 2018).

A centralized critic ``Q(s, u^{-a}, ...)`` outputs, for agent ``a``, the value of every action of
``a`` with the other agents' actions fixed (COMA Sec. 4.2). The counterfactual baseline
``b^a = sum_u' pi^a(u'|tau^a) Q(s, (u^{-a}, u'))`` gives the advantage ``A^a = Q(s, u) - b^a``
(COMA Eq. 4), and the agents ascend ``E[A^a grad log pi^a(u^a|tau^a)]``. The critic regresses
``Q(s, u)`` of the taken actions on TD(lambda) targets of a target critic (COMA Sec. 4.3).

As PyMARL's ``coma_learner``: the critic is fitted first, one RMSProp step per time step from
the last to the first (``critic_train_mode: seq``), recording each step's Q before its update;
those Q-values give the advantages of one policy step on the same batch. The target critic is
copied after every ``target_update_interval`` critic steps. The policy PyMARL trains and samples
is the masked softmax mixed with an epsilon floor, ``(1-eps) pi + eps / |avail|``.

The pieces LIIR shares (the critic's inputs and network, fitting it, acting) are in
``lica.algos.pymarl.actor_critic``; the PyMARL plumbing in ``lica.algos.pymarl.common``.
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from pydantic import PositiveFloat, PositiveInt

from lica import ops
from lica.algos.base import Algorithm
from lica.algos.pymarl import common
from lica.algos.pymarl.actor_critic import MLP, actor, critic_inputs, fit_critic, log_policy
from lica.algos.pymarl.common import Probability, PymarlConfig, epsilon, take, unroll
from lica.nets import initialize
from lica.presets import JUNCTION_AGENTS, JUNCTION_RUN


class Config(PymarlConfig):
    """COMA's hyper-parameters: PyMARL ``src/config/algs/coma.yaml`` over ``default.yaml``, except
    ``batch_size``: the inherited 32 episodes per update that the paper uses for every method
    (Sec. 4.2, following LIIR) instead of coma.yaml's 8."""

    lr_policy: PositiveFloat = 0.0005  # agents, coma.yaml lr
    lr_critic: PositiveFloat = 0.0005  # coma.yaml critic_lr
    td_lambda: Probability = 0.8  # coma.yaml
    epsilon_start: Probability = 0.5  # exploration floor of the policy, coma.yaml
    epsilon_finish: Probability = 0.01  # coma.yaml
    epsilon_anneal_time: PositiveInt = 100_000  # env steps, coma.yaml
    target_update_interval: PositiveInt = 200  # critic steps between target copies, coma.yaml
    critic_hidden: PositiveInt = 128  # two hidden layers, PyMARL modules/critics/coma.py
    critic_train_mode: Literal["seq", "batch"] = "seq"  # one critic step per time step (coma.yaml) or one per batch


# (env pattern, overrides), merged in order by ``lica.presets.lookup``.
PRESETS = [
    # StarCraft: the defaults (batches of 32 episodes for every method, Sec. 4.2, following
    # LIIR, where PyMARL's coma.yaml has 8).
    # Particle environments (Fig. 3; A1.2: the baselines follow SQDDPG's code): LICA's particle
    # preset (MLP agents without sharing, segments of 4 steps from 8 environments, Adam, lr 3e-4
    # for the agents and 1e-3 for the critic, one critic step per batch, target copies every 20)
    # and no epsilon floor. Measured on spread-3 (200-step episodes, 3 seeds, 150k steps):
    # greedy reward per step -2.5, -1.9 and -2.5 (random -3.2; LICA -1.3 to -1.5).
    ("mpe:*", {"agent": "mlp", "share_params": False, "last_action_input": False,
               "rollout": "segments", "batch_size": 8, "segment_length": 4, "optimizer": "adam",
               "lr_policy": 3e-4, "lr_critic": 1e-3, "critic_train_mode": "batch", "target_update_interval": 20,
               "epsilon_start": 0.0, "epsilon_finish": 0.0, "eval_interval": 50_000, "eval_episodes": 32}),
    ("mpe:spread-*", {"hidden": 32, "gamma": 0.9}),  # A1.2
    ("mpe:predator-prey", {"hidden": 128, "gamma": 0.99}),  # A1.2
    # Traffic junction (Fig. 5): LICA's junction preset (32-unit MLP agents without sharing, Adam
    # lr 0.01 for agents and critic, 64 episodes per update, 60 updates) with a 32-unit critic
    # and no epsilon floor, so COMA and LICA differ only in how they assign credit. (With
    # PyMARL's RMSProp, whose first steps are ~10x lr, COMA converges faster.)
    ("junction", {**JUNCTION_RUN, **JUNCTION_AGENTS, "optimizer": "adam", "lr_policy": 0.01, "lr_critic": 0.01,
                  "td_lambda": 0.0, "critic_hidden": 32, "epsilon_start": 0.0, "epsilon_finish": 0.0}),
]


def counterfactual_baseline(pi, q):
    """COMA Eq. 4's baseline ``b^a = sum_u' pi^a(u') Q^a(s, (u^{-a}, u'))`` over the last axis."""
    return jnp.sum(pi * q, axis=-1)


class ComaState(NamedTuple):
    policy: dict
    critic: dict
    target_critic: dict
    policy_opt: optax.OptState
    critic_opt: optax.OptState
    critic_steps: jax.Array
    last_target_update: jax.Array  # critic_steps at the last target copy
    env_steps: jax.Array  # drives the epsilon floor


def make(spec, config: Config) -> Algorithm:
    n, a = spec.n_agents, spec.n_actions
    policy = common.agent_policy(spec, config)
    critic = MLP((config.critic_hidden, config.critic_hidden, a))
    policy_tx = common.optimizer(config.lr_policy, config)
    critic_tx = common.optimizer(config.lr_critic, config)
    input_dim = spec.state_dim + spec.obs_dim + 2 * n * a + n

    def init(key):
        pk, ck = jax.random.split(key)
        policy_params, critic_params = initialize(config.init, jax.random.fold_in(key, 1), (
            policy.init(pk), critic.init(ck, jnp.zeros((input_dim,)))))
        zero = jnp.zeros((), jnp.int32)
        return ComaState(policy_params, critic_params, critic_params, policy_tx.init(policy_params),
                         critic_tx.init(critic_params), zero, zero, zero)

    init_carry, act = actor(policy, spec, config)

    def critic_step(state, batch):
        """COMA Sec. 4.3: regress Q(s, u) of the taken actions on TD(lambda) targets."""
        inputs = critic_inputs(batch, n, a)
        target_q = take(critic.apply(state.target_critic, inputs), batch.actions)  # [T+1, B, N]
        per_agent = lambda x: jnp.broadcast_to(x[..., None], x.shape + (n,))
        targets = ops.td_lambda_targets(per_agent(batch.reward), per_agent(batch.terminated), per_agent(batch.mask),
                                        target_q, config.gamma, config.td_lambda)

        def loss_fn(params, d):
            q = critic.apply(params, d["inputs"])
            return ops.masked_mean((take(q, d["actions"]) - d["targets"]) ** 2, d["mask"][..., None]), q

        data = {"inputs": inputs[:-1], "actions": batch.actions[:-1], "targets": targets, "mask": batch.mask[:-1]}
        params, opt, steps, q, loss = fit_critic(loss_fn, state.critic, state.critic_opt, critic_tx, data,
                                                 config.critic_train_mode)
        mask = batch.mask[:-1, :, None]
        metrics = {"critic_loss": loss, "q_taken_mean": ops.masked_mean(take(q, batch.actions[:-1]), mask),
                   "target_mean": ops.masked_mean(targets, mask)}
        state = state._replace(critic=params, critic_opt=opt, critic_steps=state.critic_steps + steps)
        return state, q, metrics

    def policy_step(state, batch, q):
        """COMA Eq. 4: ascend ``A^a log pi^a(u^a)`` with the counterfactual advantage."""
        mask = batch.mask[:-1, :, None]
        avail, actions = batch.avail[:-1], batch.actions[:-1]
        eps = epsilon(config, state.env_steps)

        def loss_fn(params):
            logits, _ = unroll(policy, params, batch)
            log_pi = log_policy(logits[:-1], avail, eps)
            pi = jnp.exp(log_pi) * avail
            advantage = jax.lax.stop_gradient(take(q, actions) - counterfactual_baseline(pi, q))
            return -ops.masked_mean(advantage * take(log_pi, actions), mask), (advantage, pi)

        (loss, (advantage, pi)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.policy)
        params, opt = ops.gradient_step(policy_tx, state.policy, state.policy_opt, grads)
        metrics = {"coma_loss": loss, "advantage_mean": ops.masked_mean(advantage, mask),
                   "pi_max": ops.masked_mean(jnp.max(pi, axis=-1), mask), "agent_grad_norm": optax.global_norm(grads)}
        return state._replace(policy=params, policy_opt=opt), metrics

    def update(state, batch, key):
        eps = epsilon(config, state.env_steps)
        state, q, critic_metrics = critic_step(state, batch)
        state, policy_metrics = policy_step(state, batch, q)
        target, last_copy = common.copy_to_target(state.critic_steps, state.last_target_update,
                                                       config.target_update_interval, state.critic, state.target_critic)
        state = state._replace(target_critic=target, last_target_update=last_copy,
                               env_steps=state.env_steps + jnp.sum(batch.mask).astype(jnp.int32))
        return state, {**critic_metrics, **policy_metrics, "epsilon": eps}

    return Algorithm(init, init_carry, act, update, on_policy=True)
