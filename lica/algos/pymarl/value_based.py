"""The value-based learners' machinery, PyMARL's ``src/learners/q_learner.py`` (and
``qtran_learner.py``), used by ``vdn``, ``qmix`` and ``qtran``.

Epsilon-greedy acting over available actions, agent Q-values unrolled over whole episodes, the
greedy (double-Q) target, the episode replay buffer kept inside the algorithm state, periodic
target copies. An algorithm only supplies its ``Mixer``: parameters and a loss. The plumbing
shared with the other PyMARL learners is ``lica.algos.pymarl.common``.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from pydantic import PositiveFloat, PositiveInt

from lica import ops
from lica import replay as replay_lib
from lica.algos.base import Algorithm
from lica.algos.pymarl.common import PymarlConfig, agent_policy, copy_to_target, epsilon, optimizer, take, unroll
from lica.batch import Batch
from lica.nets import initialize
from lica.trim import update_trimmed


class ValueConfig(PymarlConfig):
    """The value-based learners' settings (PyMARL ``src/config/algs/{vdn,qmix,qtran}.yaml``)."""

    lr: PositiveFloat = 0.0005  # the agents' (and mixer's) learning rate, default.yaml
    buffer_size: PositiveInt = 5000  # episodes in the replay buffer (per seed: memory!), qmix.yaml
    target_update_interval: PositiveInt = 200  # episodes between target-network copies, qmix.yaml
    double_q: bool = True  # greedy next action from the online agents, qmix.yaml


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


def make(spec, config: ValueConfig, mixer: Mixer, seed_axis: str | None = None) -> Algorithm:
    """PyMARL's value-based training loop around one ``mixer``.

    Per update: store the fresh episodes, sample ``batch_size`` episodes from the buffer, one
    RMSProp step on the mixer's loss over agents and mixer jointly, and copy both to the target
    networks every ``target_update_interval`` episodes. The sampled episodes are cut to the
    longest of them (``lica.trim``); under a ``vmap`` over seeds, name it in ``seed_axis`` so
    that every seed takes the same cut.
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

    def learn(nets, sample, _key):
        """One RMSProp step of agents and mixer on the replayed episodes ``sample``; ``nets`` is
        ``(params, target params, optimizer state)``."""
        params, target_params, opt = nets
        target = jax.lax.stop_gradient(unroll(policy, target_params["agent"], sample))

        def loss_fn(params):
            online = unroll(policy, params["agent"], sample)
            return mixer.loss(params["mixer"], target_params["mixer"], sample, online, target)

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        params, opt = ops.gradient_step(tx, params, opt, grads)
        return (params, opt), {"loss": loss, "grad_norm": optax.global_norm(grads), **metrics}

    def update(state, batch, key):
        replay = replay_lib.add(state.replay, batch)
        sample = replay_lib.sample_episodes(replay, key, config.batch_size)
        # The sampled episodes cut to the longest of them (lica.trim), without packing them in
        # lanes: on MMM2 that saved nothing measurable and tripled the compile time (11 -> 34 s).
        # The replay buffer stays outside the cut, which would pass it through every branch.
        nets = (state.params, state.target, state.opt)
        (params, opt), metrics = update_trimmed(learn, nets, sample, None, seed_axis, pack=False)
        target_params, last_copy = copy_to_target(state.episodes, state.last_target_update,
                                                  config.target_update_interval, params, state.target)
        eps = epsilon(config, state.env_steps)
        state = QState(params, target_params, opt, replay, state.env_steps + jnp.sum(batch.mask).astype(jnp.int32),
                       state.episodes + batch.mask.shape[1], last_copy)
        return state, {**metrics, "epsilon": eps}

    return Algorithm(init, init_carry, act, update)
