"""LICA: Learning Implicit Credit Assignment (Zhou, Liu et al., NeurIPS 2020).

Per batch of episodes (Algorithm 1, A1.3 with k = 1): one critic step on TD(lambda) targets
from a target critic (Eq. 2 / A7), then one policy step that ascends the critic evaluated on the
agents' action *probabilities* (Eq. 3-4 / A8) plus adaptive entropy regularization (Eq. 6).
Ablations are switches, not copies: ``critic='mlp'`` (C_MLP, Fig. A2), ``actions='gumbel'``
(straight-through Gumbel-softmax samples fed to the critic), ``entropy='vanilla'`` (beta * H).
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from lica import ops
from lica.algos.base import Algorithm, ascend_critic, softmax_actor
from lica.algos.pymarl.common import unroll
from lica.config import TrainConfig
from lica.nets import initialize, make_agent_policy, make_critic
from lica.presets import JUNCTION_AGENTS, JUNCTION_RUN


class Config(TrainConfig):
    """LICA's hyper-parameters; defaults are the StarCraft settings of appendix A1.1."""

    lr_policy: PositiveFloat = 0.0025  # A1.1
    lr_critic: PositiveFloat = 0.0005  # A1.1
    gamma: float = 0.99  # A1.1
    td_lambda: float = 0.8  # A1.1
    target_update_interval: PositiveInt = 200  # critic steps between target copies, A1.1
    # Critic steps on each batch before the policy step: the k of the paper's earlier version
    # (Supplementary, "we have removed it ... effectively k = 1"); beyond 1, a deviation.
    critic_steps: PositiveInt = 1
    grad_clip: PositiveFloat = 10.0  # L2 norm, A1.1
    agent: Literal["rnn", "mlp"] = "rnn"  # fc-GRU-fc (Fig. 1a) or 1-hidden-layer MLP (A1.2)
    hidden: PositiveInt = 64  # A1.1
    share_params: bool = True  # one agent network + one-hot agent id (A1.1)
    last_action_input: bool = True  # previous action one-hot as an agent input (PyMARL)
    critic: Literal["mix", "mlp"] = "mix"  # mixing critic (Fig. 1b) or the C_MLP ablation
    critic_embed: PositiveInt = 64  # A1.1: all hidden layers have 64 units
    # None: as wide as W1 (64 * n_agents * n_actions), as in the authors' code. On 2s3z (seed 0,
    # one CPU core) 64, 256 and the full width (3,520) learned alike to 3M env steps. Time for 3M
    # steps on a shared core: 24 min at 256, 3.1 h at full width (docs/results.md, "Critic width
    # and xi on 2s3z").
    hypernet_hidden: PositiveInt | None = None
    # The critic runs on the valid steps of a whole-episode batch only, this many at a time
    # (ops.on_valid_rows); 0: on every step, padding included, in one piece (may suit a GPU).
    critic_chunk: NonNegativeInt = 256
    actions: Literal["probs", "gumbel"] = "probs"  # what the policy step feeds the critic
    gumbel_temperature: PositiveFloat = 1.0
    entropy: Literal["adaptive", "vanilla"] = "adaptive"  # Eq. 6 or a constant beta
    xi: NonNegativeFloat = 0.06  # adaptive entropy strength, A1.1 (0 turns it off)
    beta: NonNegativeFloat = 0.0  # vanilla entropy coefficient (Fig. 2 uses 0.13-0.17)


# (env pattern, overrides), merged in order by ``lica.presets.lookup``.
PRESETS = [
    # StarCraft (A1.1): the Config defaults are these maps' settings; xi per map below.
    ("smac:5m_vs_6m", {"xi": 0.11}),  # A1.1
    ("smac:3s5z_vs_3s6z", {"xi": 0.03}),  # A1.1
    # Particle environments (A1.2, following SQDDPG's defaults): MLP agents with 1 hidden
    # layer and no parameter sharing, 200-step episodes (Sec. 4.1). Like SQDDPG's on-policy
    # learners, an update takes a small batch of recent transitions: segments of 4 steps from 8
    # environments, 32 transitions (A1.2's batch for Cooperative Navigation; predator-prey too,
    # where A1.2 has 128), so 1M steps give ~31k updates. Whole 200-step episodes gave ~600
    # updates per 1M steps and did not learn (spread-3, 400k steps: greedy reward per step -3.4
    # to -18 against random's -3.2). Deviations from A1.2, measured on 200-step episodes (3
    # seeds, 150k steps; greedy reward per step on spread-3, training steps per episode on
    # predator-prey): one-step TD, critic lr 3e-4 and target copies every 200 updates (A1.2)
    # left two of three spread-3 seeds at -2.3 and -10.6 (one at -1.9), so the critic learns
    # with TD(lambda=0.8), lr 1e-3 and target copies every 20 updates, which reached -1.3 to
    # -1.7 on every seed (segments of 5); the policy keeps A1.2's lr 3e-4 (1e-3: predator-prey 114-122 steps
    # per episode at 200k against 80-116, entropy collapsing).
    ("mpe:*", {"agent": "mlp", "share_params": False, "last_action_input": False,
               "rollout": "segments", "batch_size": 8, "segment_length": 4,
               "lr_policy": 3e-4, "lr_critic": 1e-3, "td_lambda": 0.8,
               "target_update_interval": 20, "eval_interval": 50_000, "eval_episodes": 32}),
    ("mpe:spread-*", {"hidden": 32, "gamma": 0.9, "xi": 0.1}),  # A1.2
    ("mpe:spread-5", {"xi": 0.2}),  # A1.2
    ("mpe:predator-prey", {"hidden": 128, "gamma": 0.99, "xi": 0.1}),  # A1.2
    # Traffic junction (Sec. 4.3.1, Fig. 5; details from LICA-REFERENCE): 32-unit MLP agents,
    # an MLP critic on the action probabilities (the task has no state), Adam lr 0.01 for
    # both, no entropy term, 60 updates. 64 sampled episodes per update stand in for the
    # authors' full batch over the four joint actions.
    ("junction", {**JUNCTION_RUN, **JUNCTION_AGENTS, "lr_policy": 0.01, "lr_critic": 0.01, "xi": 0.0,
                  "td_lambda": 0.0, "critic": "mlp", "critic_embed": 32}),
]


class LicaState(NamedTuple):
    policy: dict
    critic: dict
    target_critic: dict
    policy_opt: optax.OptState
    critic_opt: optax.OptState
    critic_steps: jax.Array


def entropy_bonus(entropy, config):
    """The entropy term added to the policy objective.

    Adaptive (Eq. 6): ``xi / stop_gradient(H) * H``, whose gradient is the entropy gradient
    scaled by ``xi / H``: ``dH_i = -xi (log p_i + 1) / H``. Vanilla: ``beta * H``.
    """
    if config.entropy == "adaptive":
        return config.xi / jax.lax.stop_gradient(entropy) * entropy
    return config.beta * entropy


def policy_loss(critic_q, joint, logits, avail, mask, config):
    """LICA's policy loss, Eq. 4 / A8 with Eq. 6: ``-(mean_t Q(s_t, joint_t) + bonus(H))``.

    ``critic_q(joint [T, B, N, A]) -> Q [T, B]`` is the critic with its parameters fixed (the
    policy step never updates it); ``joint`` holds the agents' action probabilities (or their
    straight-through Gumbel samples), ``logits`` the masked policies whose entropy ``H`` (per
    agent, averaged over agents, then over the valid steps of ``mask``) enters through
    ``entropy_bonus``. Returns ``(loss, (q_mean, H))``.
    """
    q = critic_q(joint)
    entropy = ops.masked_mean(jnp.mean(ops.categorical_entropy(logits, avail), -1), mask)
    q_mean = ops.masked_mean(q, mask)
    return -(q_mean + entropy_bonus(entropy, config)), (q_mean, entropy)


def make(spec, config: Config) -> Algorithm:
    n, a = spec.n_agents, spec.n_actions
    policy = make_agent_policy(n, spec.obs_dim, a, config.hidden, config.agent == "rnn",
                               config.share_params, config.last_action_input)
    critic = make_critic(config.critic, config.critic_embed, config.hypernet_hidden)
    policy_tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.adam(config.lr_policy))
    critic_tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.adam(config.lr_critic))

    def init(key):
        pk, ck = jax.random.split(key)
        policy_params, critic_params = initialize(config.init, jax.random.fold_in(key, 1), (
            policy.init(pk), critic.init(ck, jnp.zeros((spec.state_dim,)), jnp.zeros((n * a,)))))
        return LicaState(policy_params, critic_params, critic_params, policy_tx.init(policy_params),
                         critic_tx.init(critic_params), jnp.zeros((), jnp.int32))

    init_carry, act = softmax_actor(policy, a)

    def chunked(batch):  # the critic computed on the valid steps only (ops.on_valid_rows)
        return bool(config.critic_chunk) and batch.valid_steps is not None

    def critic_at(params, batch, states, joint, needed, fn=critic.apply):
        """The critic (or ``fn`` of its parameters and inputs) at every step ``[T, B]`` of ``states``
        and ``joint`` (``[T, B, N * A]``), computed only where ``needed`` when the batch says how
        many steps are valid (``critic_chunk``)."""
        if not chunked(batch):
            return fn(params, states, joint)
        return ops.on_valid_rows(fn, params, needed, [states, joint], config.critic_chunk, batch.valid_steps)

    def critic_step(state, batch):
        """Eq. 2 / A7: regress Q(s_t, u_t) on TD(lambda) targets of the target critic."""
        taken = jax.nn.one_hot(batch.actions, a).reshape(batch.actions.shape[:2] + (n * a,))
        bootstraps = jnp.concatenate([jnp.zeros_like(batch.mask[:1]), batch.mask[:-1]])  # Q_{t+1} of each valid t
        target_q = critic_at(state.target_critic, batch, batch.state, taken, bootstraps)
        targets = ops.td_lambda_targets(batch.reward, batch.terminated, batch.mask, target_q,
                                        config.gamma, config.td_lambda)
        mask = batch.mask[:-1]

        if chunked(batch):  # the masked mean of (q - y)^2, each chunk's forward and backward pass once
            weights = mask / jnp.maximum(jnp.sum(mask), 1.0)
            loss, q, grads = ops.value_and_grad_on_valid_rows(
                critic.apply, lambda q, y, w: w * (q - y) ** 2, state.critic, mask,
                [batch.state[:-1], taken[:-1]], [targets, weights], config.critic_chunk, batch.valid_steps)
        else:
            def loss_fn(params):
                q = critic.apply(params, batch.state[:-1], taken[:-1])
                return ops.masked_mean((q - targets) ** 2, mask), q

            (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic)
        params, opt = ops.gradient_step(critic_tx, state.critic, state.critic_opt, grads)
        steps = state.critic_steps + 1
        target = ops.target_update(params, state.target_critic, steps % config.target_update_interval == 0)
        metrics = {"critic_loss": loss, "q_taken_mean": ops.masked_mean(q, mask),
                   "target_mean": ops.masked_mean(targets, mask), "critic_grad_norm": optax.global_norm(grads)}
        return state._replace(critic=params, target_critic=target, critic_opt=opt, critic_steps=steps), metrics

    def policy_step(state, batch, key):
        """Eq. 4 / A8 with Eq. 6: ascend Q(s, pi^1..pi^n) + entropy through the critic."""
        mask = batch.mask[:-1]

        def critic_q(joint):
            """The critic as it stands at the batch's states, differentiable in ``joint``. On the
            valid steps only, each step's gradient is computed with its value, in one pass over
            them (the chunks' backward pass would run the critic's forward pass again)."""
            joint = joint.reshape(joint.shape[:2] + (n * a,))
            if not chunked(batch):
                return critic_at(state.critic, batch, batch.state[:-1], joint, mask)
            q_and_grad = critic_at(state.critic, batch, batch.state[:-1], jax.lax.stop_gradient(joint), mask,
                                   ops.value_and_row_grad(critic.apply))
            return ops.linearized(q_and_grad, joint)

        def loss_fn(params):
            logits = unroll(policy, params, batch)[0][:-1]
            avail = batch.avail[:-1]
            if config.actions == "gumbel":
                joint = ops.gumbel_softmax_st(key, logits, avail, config.gumbel_temperature)
            else:
                joint = ops.masked_probs(logits, avail)
            return policy_loss(critic_q, joint, logits, avail, mask, config)

        return ascend_critic(policy_tx, state, loss_fn)

    def update(state, batch, key):
        state, critic_metrics = jax.lax.scan(lambda s, _: critic_step(s, batch), state, length=config.critic_steps)
        critic_metrics = jax.tree.map(lambda m: m[-1], critic_metrics)  # the last critic step's
        state, policy_metrics = policy_step(state, batch, key)
        return state, {**critic_metrics, **policy_metrics}

    return Algorithm(init, init_carry, act, update, on_policy=True)
