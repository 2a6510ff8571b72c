"""Shared machinery of the DDPG family: IDDPG, MADDPG and SQDDPG (the particle baselines, Sec. 4.1).

The three algorithms differ only in what each agent's critic sees and in how the critic's
outputs become a TD target; everything else lives here once, following the training loop of
the SQDDPG code the LICA paper uses for its baselines (A1.2; hsvgbkhgbv/SQDDPG, files cited in
the algorithm modules' presets):

- **Acting** (``act``): agent ``i``'s MLP gives logits; exploration samples the categorical
  policy (Gumbel-max, the hard limit of SQDDPG's Gumbel-softmax behaviour sample), test
  episodes take the argmax. ``probs`` is the masked softmax.
- **Replay**: every fresh batch of episodes goes into a replay buffer (``lica.replay``) kept in
  the algorithm state; gradient steps use one-step transitions from ``sample_transitions``.
- **Schedule** (SQDDPG ``models/model.py``, ``transition_update``): one *training round* every
  ``update_every`` environment steps, made of ``critic_steps`` critic steps followed by one
  policy step, each on ``train_batch`` freshly sampled transitions; the target networks move
  towards the online ones by ``tau`` every ``target_update_every`` environment steps
  (``tau = 1`` is a periodic hard copy). Rounds wait until ``max(warmup_steps, train_batch)``
  steps were collected. Rounds and target updates keep their environment-step clock across
  update calls; the rounds due in one call all run after the call's episodes were stored.
- **Critic step**: one-step TD, ``y = r + gamma (1 - terminated) Q'(o', pi'(o'))`` with the
  target critic ``Q'`` on the target policies' actions; an episode cut by the time limit
  bootstraps from its final observation. Loss: squared TD error, mean over the batch, summed
  over the agents' critics (each critic has its own parameters, so this is each agent's own
  loss, as in SQDDPG's per-agent optimizers).
- **Policy step** (deterministic policy gradient with Gumbel-softmax actions): agent ``i``
  ascends its own critic value ``Q_i(o, a_1, ..., a_n)`` through its own differentiable action
  ``a_i`` only (the other agents' actions, also from their current policies as in SQDDPG's
  ``get_loss``, are held fixed), plus ``entropy_coef`` times its mean policy entropy. SQDDPG
  adds ``entr`` times the entropy *summed* over the batch to a batch-*mean* Q objective
  (``utilities/trainer.py``, ``action_compute_grad``), so its ``entr`` is our
  ``entropy_coef / train_batch``; the presets write ``entr * train_batch``.
- **Relaxed actions** fed to the critics in the policy step and for the TD target's next actions
  (``policy_actions``): straight-through Gumbel-softmax samples (``ops.gumbel_softmax_st``, one-hot
  forward, as MADDPG's discrete-action variant) by default; ``"probs"`` feeds the softmax instead,
  which is what SQDDPG's ``select_action(..., exploration=False)`` does.
- **Networks**: agents are the 1-hidden-layer MLPs of A1.2 (``nets.make_agent_policy``, no
  parameter sharing; SQDDPG's code has 2 hidden layers); each agent's critic is an MLP with 2
  hidden layers (``nets.MLPCritic``), as SQDDPG's ``value_dicts``. PyTorch's default initialization
  (``config.init``; SQDDPG redraws its weights from N(0, 0.1), which we do not).
- **Optimizers**: Adam, with every gradient element clamped to ``[-grad_clip, grad_clip]``
  (SQDDPG ``utilities/trainer.py``, ``grad_clip``).

An algorithm module supplies a ``Critic`` (its input construction) and calls ``make``.
"""

from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from lica import ops
from lica import replay as replay_lib
from lica.algos.base import Algorithm, ascend_critic
from lica.batch import Batch
from lica.config import TrainConfig
from lica.nets import MLPCritic, initialize, make_agent_policy
from lica.presets import JUNCTION_RUN


class DDPGConfig(TrainConfig):
    """Settings shared by the DDPG family. Defaults are SQDDPG's Cooperative Navigation values
    (``args/simple_spread_*.py``, identical for the three methods unless noted in a module)."""

    lr_policy: PositiveFloat = 1e-4  # policy_lrate (per method; see the modules)
    lr_critic: PositiveFloat = 1e-3  # value_lrate (per method; see the modules)
    gamma: float = 0.9  # gamma, args/simple_spread_*.py; A1.2
    hidden: PositiveInt = 32  # policy MLP width, hid_size; A1.2 (1 hidden layer, as the paper says)
    critic_hidden: PositiveInt = 32  # critic MLP width (2 hidden layers), hid_size in models/*.py
    share_params: bool = False  # shared_parameters=False; A1.2: agents do not share parameters
    train_batch: PositiveInt = 32  # transitions per gradient step: batch_size (online mode); A1.2
    replay_size: PositiveInt = 10_000  # transitions kept: replay_buffer_size=1e4
    warmup_steps: NonNegativeInt = 0  # replay_warmup=0
    update_every: PositiveInt = 100  # env steps between training rounds: behaviour_update_freq=100
    critic_steps: PositiveInt = 10  # critic steps per round: critic_update_times=10
    target_update_every: PositiveInt = 200  # env steps between target updates: target_update_freq=200
    tau: float = 0.1  # soft target update rate: target_lr=0.1 (1.0 = hard copy)
    grad_clip: PositiveFloat | None = 1.0  # element-wise clamp, utilities/trainer.py grad_clip
    entropy_coef: NonNegativeFloat = 0.0  # weight of each agent's mean policy entropy (see modules)
    policy_actions: Literal["gumbel", "probs"] = "gumbel"  # ST Gumbel-softmax samples or softmax
    gumbel_temperature: PositiveFloat = 1.0


# Presets every DDPG-family algorithm shares (its own module adds the per-task learning rates).
# Particle tasks: 5000 episodes of at most 200 steps (Sec. 4.1); one environment collecting
# episodes between training rounds, as SQDDPG's online trainer (train.py, models/model.py);
# evaluation as for LICA's particle preset.
PARTICLE_PRESET = ("mpe:*", {"share_params": False, "batch_size": 1, "env_steps": 1_000_000,
                             "eval_interval": 100_000, "eval_episodes": 32})
# Traffic junction (Sec. 4.3.1): LICA's junction settings (32-unit agents, Adam lr 0.01, 64
# episodes per update, 60 updates); the 1-step game needs no replay history or target network
# (Sec. 4.3.1), so each update trains one round on its own 64 fresh transitions (update_every =
# batch_size) with one critic step, and no entropy term.
JUNCTION_PRESET = ("junction", {**JUNCTION_RUN, "hidden": 32, "critic_hidden": 32, "lr_policy": 0.01,
                                "lr_critic": 0.01, "train_batch": 64, "replay_size": 64, "update_every": 64,
                                "critic_steps": 1, "target_update_every": 64, "tau": 1.0, "entropy_coef": 0.0})


class Critic(NamedTuple):
    """What distinguishes one DDPG-family algorithm from another.

    - ``init(key) -> params``.
    - ``values(params, obs, state, joint, key) -> [..., N]``: each agent's critic value, for
      ``obs [..., N, obs_dim]``, ``state [..., state_dim]`` and ``joint [..., N, N, A]``, where
      ``joint[..., i, :, :]`` is the joint action (one-hot or relaxed) that agent ``i``'s critic
      is evaluated on (rows differ only in where gradients may flow, see ``own_action_joint``).
    - ``joint_td``: one TD target for the sum of the agents' values (SQDDPG's efficiency
      constraint) instead of one per agent (IDDPG, MADDPG).
    """

    init: Callable
    values: Callable
    joint_td: bool = False


def agent_critics(n_agents: int, hidden: int, x_dim: int, u_dim: int):
    """One MLP critic per agent (``nets.MLPCritic``: ``[x; u] -> hidden -> hidden -> 1``).

    Returns ``(init, apply)``; ``apply(params, x [..., N, x_dim], u [..., N, u_dim]) -> [..., N]``
    evaluates agent ``i``'s critic on row ``i``.
    """
    net = MLPCritic(hidden)

    def init(key):
        return jax.vmap(lambda k: net.init(k, jnp.zeros((x_dim,)), jnp.zeros((u_dim,))))(
            jax.random.split(key, n_agents))

    apply = jax.vmap(net.apply, in_axes=(0, -2, -2), out_axes=-1)
    return init, apply


def same_joint(actions):
    """``[..., N, A] -> [..., N, N, A]``: every agent's critic sees the same joint action."""
    n = actions.shape[-2]
    return jnp.broadcast_to(actions[..., None, :, :], actions.shape[:-2] + (n,) + actions.shape[-2:])


def own_action_joint(actions):
    """Like ``same_joint``, but in row ``i`` only agent ``i``'s action carries a gradient.

    Summing the agents' critic values over this then gives each agent's policy exactly the
    gradient of its *own* critic through its *own* action, as DDPG-family actors need.
    """
    n = actions.shape[-2]
    fixed = same_joint(jax.lax.stop_gradient(actions))
    live = same_joint(actions)
    own = jnp.eye(n)[..., None]  # [N, N, 1]: row i, agent i
    return fixed + own * (live - jax.lax.stop_gradient(live))


def critic_inputs_all(obs, state, use_state: bool):
    """The centralized critics' observation input: all observations concatenated, or the state."""
    return state if use_state else obs.reshape(obs.shape[:-2] + (-1,))


class DDPGState(NamedTuple):
    policy: dict
    critic: dict
    target_policy: dict
    target_critic: dict
    policy_opt: optax.OptState
    critic_opt: optax.OptState
    replay: replay_lib.Replay
    env_steps: jax.Array  # environment steps stored so far (the schedule's clock)
    rounds: jax.Array  # training rounds done


def _optimizer(lr, clip):
    parts = [optax.clip(clip)] if clip is not None else []
    return optax.chain(*parts, optax.adam(lr))


def make(spec, config: DDPGConfig, critic: Critic) -> Algorithm:
    n, a = spec.n_agents, spec.n_actions
    policy = make_agent_policy(n, spec.obs_dim, a, config.hidden, recurrent=False,
                               share_params=config.share_params, last_action_input=False)
    policy_tx = _optimizer(config.lr_policy, config.grad_clip)
    critic_tx = _optimizer(config.lr_critic, config.grad_clip)
    capacity = max(config.replay_size // spec.episode_limit, config.batch_size)
    no_last_action = jnp.zeros((n, a))
    first_step = -(-max(config.warmup_steps, config.train_batch) // config.update_every)  # ceil

    def logits_of(params, obs):
        _, logits = policy.step(params, policy.init_carry(obs.shape[:-2]), obs,
                                jnp.broadcast_to(no_last_action, obs.shape[:-1] + (a,)))
        return logits

    def relaxed_actions(key, logits, avail):
        """The differentiable actions fed to critics: ST Gumbel-softmax samples or the softmax."""
        if config.policy_actions == "gumbel":
            return ops.gumbel_softmax_st(key, logits, avail, config.gumbel_temperature)
        return ops.masked_probs(logits, avail)

    def init(key):
        pk, ck = jax.random.split(key)
        policy_params, critic_params = initialize(config.init, jax.random.fold_in(key, 1),
                                                  (policy.init(pk), critic.init(ck)))
        T = spec.episode_limit
        example = Batch(obs=jnp.zeros((T + 1, 1, n, spec.obs_dim)), state=jnp.zeros((T + 1, 1, spec.state_dim)),
                        avail=jnp.zeros((T + 1, 1, n, a)), actions=jnp.zeros((T + 1, 1, n), jnp.int32),
                        probs=jnp.zeros((T + 1, 1, n, a)), reward=jnp.zeros((T + 1, 1)),
                        terminated=jnp.zeros((T + 1, 1)), mask=jnp.zeros((T + 1, 1)))
        return DDPGState(policy_params, critic_params, policy_params, critic_params,
                         policy_tx.init(policy_params), critic_tx.init(critic_params),
                         replay_lib.init(example, capacity), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def init_carry(batch_shape):
        return policy.init_carry(batch_shape)  # MLP agents carry nothing between steps

    def act(state, carry, obs, avail, key, greedy):
        logits = logits_of(state.policy, obs)
        probs = ops.masked_probs(logits, avail)
        if greedy:
            actions = jnp.argmax(probs, axis=-1)
        else:
            actions = jax.random.categorical(key, ops.mask_logits(logits, avail))
        return actions, probs, carry

    def critic_step(state, tb, key):
        """Regress each critic value on the one-step TD target of the target networks."""
        pi_key, q_key, q_next_key = jax.random.split(key, 3)
        next_logits = logits_of(state.target_policy, tb.obs[1])
        next_actions = jax.lax.stop_gradient(relaxed_actions(pi_key, next_logits, tb.avail[1]))
        q_next = critic.values(state.target_critic, tb.obs[1], tb.state[1], same_joint(next_actions), q_next_key)
        if critic.joint_td:
            q_next = jnp.sum(q_next, axis=-1, keepdims=True)
        not_done = (1.0 - tb.terminated[0])[:, None]
        targets = jax.lax.stop_gradient(tb.reward[0][:, None] + config.gamma * not_done * q_next)
        taken = same_joint(jax.nn.one_hot(tb.actions[0], a))
        mask = tb.mask[0][:, None]

        def loss_fn(params):
            q = critic.values(params, tb.obs[0], tb.state[0], taken, q_key)
            if critic.joint_td:
                q = jnp.sum(q, axis=-1, keepdims=True)
            per_critic = jax.vmap(lambda err: ops.masked_mean(err, mask[:, 0]), in_axes=-1)((q - targets) ** 2)
            return jnp.sum(per_critic), q

        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic)
        params, opt = ops.gradient_step(critic_tx, state.critic, state.critic_opt, grads)
        # with joint_td (SQDDPG) q and the targets are of the sum over agents, the global Q-value
        metrics = {"critic_loss": loss, "q_taken_mean": ops.masked_mean(q, mask),
                   "target_mean": ops.masked_mean(targets, mask), "critic_grad_norm": optax.global_norm(grads)}
        return state._replace(critic=params, critic_opt=opt), metrics

    def policy_step(state, tb, key):
        """Each agent ascends its own critic through its own relaxed action (+ entropy)."""
        act_key, q_key = jax.random.split(key)
        obs, avail, mask = tb.obs[0], tb.avail[0], tb.mask[0][:, None]

        def loss_fn(params):
            logits = logits_of(params, obs)
            joint = own_action_joint(relaxed_actions(act_key, logits, avail))
            q = critic.values(state.critic, obs, tb.state[0], joint, q_key)  # [n, N]
            entropy = ops.categorical_entropy(logits, avail)  # [n, N]
            q_mean, h_mean = ops.masked_mean(q, mask), ops.masked_mean(entropy, mask)
            # sum over agents of each agent's batch mean
            return -n * (q_mean + config.entropy_coef * h_mean), (q_mean, h_mean)

        return ascend_critic(policy_tx, state, loss_fn)

    @jax.jit  # traced once: ``update`` reads its metrics' shapes before looping over it
    def training_round(state, key, round_index):
        """Round ``c`` happens at env step ``c * update_every``: critic steps, a policy step, then
        the target updates due since the previous round's step."""
        critic_keys = jax.random.split(jax.random.fold_in(key, 0), config.critic_steps)

        def one_critic_step(st, k):
            sample_key, step_key = jax.random.split(k)
            tb = replay_lib.sample_transitions(st.replay, sample_key, config.train_batch)
            return critic_step(st, tb, step_key)

        state, critic_metrics = jax.lax.scan(one_critic_step, state, critic_keys)
        sample_key, step_key = jax.random.split(jax.random.fold_in(key, 1))
        tb = replay_lib.sample_transitions(state.replay, sample_key, config.train_batch)
        state, policy_metrics = policy_step(state, tb, step_key)
        step, every = round_index * config.update_every, config.target_update_every
        due = step // every - (step - config.update_every) // every
        state = state._replace(target_policy=ops.target_update(state.policy, state.target_policy, due, config.tau),
                               target_critic=ops.target_update(state.critic, state.target_critic, due, config.tau),
                               rounds=state.rounds + 1)
        return state, {**jax.tree.map(jnp.mean, critic_metrics), **policy_metrics}

    def update(state, batch, key):
        new_steps = jnp.sum(batch.mask).astype(jnp.int32)
        first = jnp.maximum(state.env_steps // config.update_every + 1, first_step)
        state = state._replace(replay=replay_lib.add(state.replay, batch), env_steps=state.env_steps + new_steps)
        last = state.env_steps // config.update_every
        metrics_shape = jax.eval_shape(lambda s: training_round(s, key, first)[1], state)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics_shape)

        def body(c, carry):
            st, total = carry
            st, metrics = training_round(st, jax.random.fold_in(key, c), c)
            return st, jax.tree.map(jnp.add, total, metrics)

        state, total = jax.lax.fori_loop(first, last + 1, body, (state, zeros))
        count = jnp.maximum(last + 1 - first, 0)
        metrics = jax.tree.map(lambda x: x / jnp.maximum(count, 1), total)
        return state, {**metrics, "train_rounds": count.astype(jnp.float32),
                       "replay_episodes": state.replay.size.astype(jnp.float32)}

    return Algorithm(init, init_carry, act, update)
