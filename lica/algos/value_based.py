"""What the PyMARL baselines share, written once.

- ``PymarlConfig``: PyMARL's common settings (``src/config/default.yaml``): RMSProp, gradient
  clipping, the shared fc-GRU-fc agent with last action and agent id, a linear epsilon schedule.
  COMA and LIIR (policy-gradient) and VDN, QMIX, QTRAN (value-based) all build on it.
- The value-based machinery of PyMARL's ``q_learner`` (used by ``vdn``, ``qmix``, ``qtran``):
  epsilon-greedy acting over available actions, agent Q-values unrolled over whole episodes, the
  greedy (double-Q) target, the episode replay buffer kept inside the algorithm state, periodic
  target copies. An algorithm only supplies its ``Mixer``: parameters and a loss.
"""

from typing import Annotated, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from pydantic import Field, PositiveFloat, PositiveInt

from lica import ops
from lica import replay as replay_lib
from lica.algos.base import Algorithm
from lica.batch import Batch
from lica.config import TrainConfig
from lica.nets import initialize, make_agent_policy

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class PymarlConfig(TrainConfig):
    """Settings every PyMARL learner shares (PyMARL ``src/config/default.yaml``)."""

    gamma: Probability = 0.99  # default.yaml
    grad_clip: PositiveFloat = 10.0  # L2 norm, default.yaml grad_norm_clip
    optim_alpha: Probability = 0.99  # RMSProp smoothing, default.yaml
    optim_eps: PositiveFloat = 1e-5  # RMSProp epsilon (added outside the sqrt, as torch), default.yaml
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"  # PyMARL: RMSProp; Adam to match LICA's junction runs
    epsilon_start: Probability = 1.0  # exploration schedule: linear from start ...
    epsilon_finish: Probability = 0.05  # ... to finish ...
    epsilon_anneal_time: PositiveInt = 50_000  # ... over this many env steps, then flat
    agent: Literal["rnn", "mlp"] = "rnn"  # fc-GRU-fc (rnn_agent.py) or a 1-hidden-layer MLP
    hidden: PositiveInt = 64  # default.yaml rnn_hidden_dim
    share_params: bool = True  # one agent network + one-hot agent id (default.yaml obs_agent_id)
    last_action_input: bool = True  # previous action one-hot as input (default.yaml obs_last_action)


class ValueConfig(PymarlConfig):
    """The value-based learners' settings (PyMARL ``src/config/algs/{vdn,qmix,qtran}.yaml``)."""

    lr: PositiveFloat = 0.0005  # the agents' (and mixer's) learning rate, default.yaml
    buffer_size: PositiveInt = 5000  # episodes in the replay buffer (per seed: memory!), qmix.yaml
    target_update_interval: PositiveInt = 200  # episodes between target-network copies, qmix.yaml
    double_q: bool = True  # greedy next action from the online agents, qmix.yaml


# ---------------------------------------------------------------------------------------------
# Shared by every PyMARL learner


def optimizer(lr, config: PymarlConfig) -> optax.GradientTransformation:
    """PyMARL's optimizer: clip the global L2 norm, then torch-style RMSProp (or Adam)."""
    if config.optimizer == "adam":
        step = optax.adam(lr)
    else:
        step = optax.rmsprop(lr, decay=config.optim_alpha, eps=config.optim_eps, eps_in_sqrt=False)
    return optax.chain(optax.clip_by_global_norm(config.grad_clip), step)


def epsilon(config: PymarlConfig, env_steps):
    """PyMARL's ``DecayThenFlatSchedule`` (linear): ``max(finish, start - (start-finish) t / T)``."""
    slope = (config.epsilon_start - config.epsilon_finish) / config.epsilon_anneal_time
    return jnp.maximum(config.epsilon_finish, config.epsilon_start - slope * env_steps)


def copy_to_target(count, last_copy, interval, params, target):
    """PyMARL's target updates: copy ``params`` to ``target`` once ``count`` (episodes or critic
    steps) has grown by ``interval`` since the last copy. Returns ``(target, last_copy)``."""
    due = count - last_copy >= interval
    return ops.target_update(params, target, due), jnp.where(due, count, last_copy)


def agent_policy(spec, config: PymarlConfig):
    """The agents' network of every PyMARL baseline (``lica.nets``)."""
    return make_agent_policy(spec.n_agents, spec.obs_dim, spec.n_actions, config.hidden, config.agent == "rnn",
                             config.share_params, config.last_action_input)


def previous_actions(batch: Batch):
    """Each agent's previous action, one-hot, at every step ``0..T`` (``[T+1, B, N, A]``): zeros
    where an episode begins; at step 0 of a segment, the last action of the segment before."""
    n_actions = batch.avail.shape[-1]
    taken = jax.nn.one_hot(batch.actions[:-1], n_actions)
    if batch.first is None:
        return jnp.concatenate([jnp.zeros_like(taken[:1]), taken])
    last0 = batch.carry0[1]  # an actors' carry is (hidden, last action, ...)
    return jnp.concatenate([last0[None], taken]) * (1.0 - batch.first)[..., None, None]


def unroll(policy, params, batch: Batch, obs=None, hidden0=None):
    """Agent outputs and hidden states at every step ``0..T`` of a batch.

    Replays the recorded previous actions as inputs; returns ``(outputs [T+1, B, N, A],
    hidden [T+1, B, N, H])``, ``hidden[t]`` being the state after seeing step ``t`` (PyMARL's
    ``mac.hidden_states``; zeros for MLP agents). A segment's unroll starts from the hidden
    state its rollout had (``batch.carry0``) and resets it where an episode begins.

    Another network over the same steps (PPO's critic) passes its own inputs ``obs [T+1, B, N,
    D]`` and, on segments, the hidden state it had at the segment's start (``hidden0``).
    """
    obs = batch.obs if obs is None else obs
    if batch.first is None:
        hidden0 = policy.init_carry(obs.shape[1:2])
    elif hidden0 is None:
        hidden0 = batch.carry0[0]

    def step(hidden, xs):
        obs, last_action, first = xs
        if first is not None:
            hidden = ops.where_leading(first > 0, jnp.zeros_like(hidden), hidden)
        hidden, out = policy.step(params, hidden, obs, last_action)
        return hidden, (out, hidden)

    _, (outputs, hidden) = jax.lax.scan(step, hidden0, (obs, previous_actions(batch), batch.first))
    return outputs, hidden


def take(values, actions):
    """``values[..., actions]``: the entry of each agent's chosen action (``[..., A] -> [...]``)."""
    return jnp.take_along_axis(values, actions[..., None], axis=-1)[..., 0]


# ---------------------------------------------------------------------------------------------
# Value-based learners (PyMARL src/learners/q_learner.py, qtran_learner.py)


def greedy_actions(q, avail):
    """argmax over the available actions only."""
    return jnp.argmax(jnp.where(avail > 0, q, -jnp.inf), axis=-1)


def epsilon_greedy(key, q, avail, eps):
    """Epsilon-greedy over available actions (PyMARL ``EpsilonGreedyActionSelector``).

    With probability ``eps`` an available action uniformly at random, else the greedy one; the
    returned ``probs`` are exactly that distribution: ``(1-eps) 1[u = argmax] + eps / |avail|``.
    """
    n_avail = jnp.maximum(jnp.sum(avail, axis=-1, keepdims=True), 1.0)
    greedy = jax.nn.one_hot(greedy_actions(q, avail), q.shape[-1])
    probs = (1.0 - eps) * greedy + eps * avail / n_avail
    actions = jax.random.categorical(key, jnp.where(probs > 0, jnp.log(jnp.maximum(probs, 1e-30)), -jnp.inf))
    return actions, probs


def target_max(online_q, target_q, avail, double_q):
    """The target agents' value of the greedy next action: ``Q^-_i(tau, argmax_u Q_i(tau, u))``.

    With double Q-learning (van Hasselt et al. 2016; PyMARL ``double_q``) the argmax comes from
    the online agents, else from the target agents. Returns ``(actions, values)``, both
    ``[..., N]``; the argmax sees no gradient.
    """
    actions = greedy_actions(jax.lax.stop_gradient(online_q if double_q else target_q), avail)
    return actions, take(target_q, actions)


class Mixer(NamedTuple):
    """What distinguishes VDN, QMIX and QTRAN.

    ``init(key) -> params``; ``loss(params, target_params, batch, online, target) -> (loss,
    metrics)`` where ``online`` and ``target`` are ``unroll`` outputs ``(q, hidden)`` of the
    online agents (differentiable) and of the target agents (constants).
    """

    init: Callable
    loss: Callable


def td_loss(mix, config: ValueConfig):
    """The 1-step Q-learning loss of VDN and QMIX on a mixer ``mix(params, agent_qs, state)``.

    ``y_t = r_t + gamma (1 - terminated_t) Q^-_tot(s_{t+1}, max/double-Q actions)`` and
    ``L = E[(Q_tot(s_t, u_t) - y_t)^2]`` over valid steps (VDN Eq. 1 with the sum mixer; QMIX
    Eq. 6).
    """

    def loss(params, target_params, batch, online, target):
        q, target_q = online[0], target[0]
        chosen = take(q[:-1], batch.actions[:-1])
        _, next_max = target_max(q, target_q, batch.avail, config.double_q)
        q_tot = mix(params, chosen, batch.state[:-1])
        next_tot = mix(target_params, next_max[1:], batch.state[1:])
        y = batch.reward[:-1] + config.gamma * (1.0 - batch.terminated[:-1]) * next_tot
        mask = batch.mask[:-1]
        td = q_tot - jax.lax.stop_gradient(y)
        metrics = {"td_error_abs": ops.masked_mean(jnp.abs(td), mask), "q_taken_mean": ops.masked_mean(q_tot, mask),
                   "target_mean": ops.masked_mean(y, mask)}
        return ops.masked_mean(td**2, mask), metrics

    return loss


class QState(NamedTuple):
    params: dict  # {"agent": ..., "mixer": ...}
    target: dict  # target copies of both
    opt: optax.OptState
    replay: replay_lib.Replay
    env_steps: jax.Array  # drives the epsilon schedule
    episodes: jax.Array  # episodes collected so far
    last_target_update: jax.Array  # ``episodes`` at the last target copy


def empty_batch(spec) -> Batch:
    """A one-episode batch of zeros, the shape template for the replay buffer."""
    t, n = spec.episode_limit + 1, spec.n_agents
    f = lambda *shape: jnp.zeros((t, 1) + shape, jnp.float32)
    return Batch(obs=f(n, spec.obs_dim), state=f(spec.state_dim), avail=f(n, spec.n_actions),
                 actions=jnp.zeros((t, 1, n), jnp.int32), probs=f(n, spec.n_actions), reward=f(), terminated=f(),
                 mask=f())


def make(spec, config: ValueConfig, mixer: Mixer) -> Algorithm:
    """PyMARL's value-based training loop around one ``mixer``.

    Per update: store the fresh episodes, sample ``batch_size`` episodes from the buffer, one
    RMSProp step on the mixer's loss over agents and mixer jointly, and copy both to the target
    networks every ``target_update_interval`` episodes.
    """
    policy = agent_policy(spec, config)
    tx = optimizer(config.lr, config)

    def init(key):
        agent_key, mixer_key = jax.random.split(key)
        params = initialize(config.init, jax.random.fold_in(key, 1),
                            {"agent": policy.init(agent_key), "mixer": mixer.init(mixer_key)})
        zero = jnp.zeros((), jnp.int32)
        return QState(params, params, tx.init(params), replay_lib.init(empty_batch(spec), config.buffer_size),
                      zero, zero, zero)

    def init_carry(batch_shape):
        return policy.init_carry(batch_shape), jnp.zeros(batch_shape + (spec.n_agents, spec.n_actions))

    def act(state, carry, obs, avail, key, greedy):
        hidden, last_action = carry
        hidden, q = policy.step(state.params["agent"], hidden, obs, last_action)
        eps = 0.0 if greedy else epsilon(config, state.env_steps)
        actions, probs = epsilon_greedy(key, q, avail, eps)
        return actions, probs, (hidden, jax.nn.one_hot(actions, spec.n_actions))

    def update(state, batch, key):
        replay = replay_lib.add(state.replay, batch)
        sample = replay_lib.sample_episodes(replay, key, config.batch_size)
        target = jax.lax.stop_gradient(unroll(policy, state.target["agent"], sample))

        def loss_fn(params):
            online = unroll(policy, params["agent"], sample)
            return mixer.loss(params["mixer"], state.target["mixer"], sample, online, target)

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = ops.gradient_step(tx, state.params, state.opt, grads)
        target_params, last_copy = copy_to_target(state.episodes, state.last_target_update,
                                                  config.target_update_interval, params, state.target)
        eps = epsilon(config, state.env_steps)
        state = QState(params, target_params, opt, replay, state.env_steps + jnp.sum(batch.mask).astype(jnp.int32),
                       state.episodes + batch.mask.shape[1], last_copy)
        return state, {"loss": loss, "grad_norm": optax.global_norm(grads), "epsilon": eps, **metrics}

    return Algorithm(init, init_carry, act, update)
