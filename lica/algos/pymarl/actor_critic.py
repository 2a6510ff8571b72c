"""The actor-critic pieces COMA and LIIR share, after PyMARL's ``coma_learner``: the
centralized critic's inputs (``critic_inputs``) and network (``MLP``), fitting a critic one time
step at a time (``fit_critic``), and the agents acting by the softmax policy with an epsilon
floor (``log_policy``, ``actor``).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lica import ops
from lica.algos.pymarl.common import epsilon, previous_actions


class MLP(nn.Module):
    """Dense layers with ReLU between them (none after the last)."""

    features: Sequence[int]

    @nn.compact
    def __call__(self, x):
        for i, width in enumerate(self.features):
            x = nn.Dense(width)(x)
            x = nn.relu(x) if i < len(self.features) - 1 else x
        return x


def critic_inputs(batch, n_agents, n_actions):
    """COMA's critic input for agent ``a`` at every step (PyMARL ``COMACritic._build_inputs``):
    the state, ``a``'s observation, the other agents' actions (``a``'s own zeroed), all agents'
    previous actions and ``a``'s one-hot id. Returns ``[T+1, B, N, D]``."""
    t1, b = batch.actions.shape[:2]
    shape = (t1, b, n_agents)
    joint = jax.nn.one_hot(batch.actions, n_actions).reshape(t1, b, 1, n_agents * n_actions)
    others = joint * jnp.repeat(1.0 - jnp.eye(n_agents), n_actions, axis=1)  # [T+1, B, N, N*A]
    last = previous_actions(batch).reshape(t1, b, 1, n_agents * n_actions)
    parts = [jnp.broadcast_to(batch.state[:, :, None], shape + batch.state.shape[-1:]), batch.obs, others,
             jnp.broadcast_to(last, shape + last.shape[-1:]), jnp.broadcast_to(jnp.eye(n_agents), shape + (n_agents,))]
    return jnp.concatenate(parts, axis=-1)


def log_policy(logits, avail, eps):
    """log of PyMARL's exploring policy ``(1-eps) softmax(logits | avail) + eps / |avail|``,
    computed stably in log space (exact log-softmax when ``eps = 0``)."""
    eps = jax.lax.stop_gradient(eps)
    n_avail = jnp.maximum(jnp.sum(avail, axis=-1, keepdims=True), 1.0)
    log_soft = jax.nn.log_softmax(ops.mask_logits(logits, avail), axis=-1)
    return jnp.logaddexp(jnp.log1p(-eps) + log_soft, jnp.log(eps / n_avail))


def fit_critic(loss_fn, params, opt_state, tx, data, mode):
    """Fit a critic on time-major ``data`` (a dict of ``[T, ...]`` arrays with a ``mask [T, B]``).

    ``loss_fn(params, data) -> (loss, aux)`` on any run of steps. ``mode='seq'`` takes one step
    per time step, last to first, skipping steps without valid data (PyMARL ``critic_train_mode:
    seq``); ``'batch'`` takes one step on all steps. Returns ``(params, opt_state, steps, aux
    [T, ...], mean loss)`` with ``aux`` computed before each step's update.
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(params, opt_state, data):
        (loss, aux), grads = grad_fn(params, data)
        return (*ops.gradient_step(tx, params, opt_state, grads), loss, aux)

    if mode == "batch":
        params, opt_state, loss, aux = step(params, opt_state, data)
        return params, opt_state, jnp.ones((), jnp.int32), aux, loss

    def body(carry, d):
        params, opt_state = carry
        new_params, new_opt, loss, aux = step(params, opt_state, jax.tree.map(lambda x: x[None], d))
        valid = jnp.sum(d["mask"]) > 0
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(valid, n, o), new, old)
        return (keep(new_params, params), keep(new_opt, opt_state)), (jax.tree.map(lambda x: x[0], aux), loss, valid)

    (params, opt_state), (aux, losses, valid) = jax.lax.scan(body, (params, opt_state), data, reverse=True)
    steps = jnp.sum(valid).astype(jnp.int32)
    return params, opt_state, steps, aux, jnp.sum(jnp.where(valid, losses, 0.0)) / jnp.maximum(steps, 1)


def actor(policy, spec, config):
    """``(init_carry, act)`` of a policy-gradient learner whose state has ``policy`` parameters
    and an ``env_steps`` counter: training samples PyMARL's exploring policy, tests take the
    argmax; ``probs`` is the distribution the actions came from."""

    def init_carry(batch_shape):
        return policy.init_carry(batch_shape), jnp.zeros(batch_shape + (spec.n_agents, spec.n_actions))

    def act(state, carry, obs, avail, key, greedy):
        hidden, last_action = carry
        hidden, logits = policy.step(state.policy, hidden, obs, last_action)
        if greedy:
            probs = ops.masked_probs(logits, avail)
            actions = jnp.argmax(probs, axis=-1)
        else:
            log_pi = log_policy(logits, avail, epsilon(config, state.env_steps))
            probs = jnp.exp(log_pi) * avail
            actions = jax.random.categorical(key, jnp.where(avail > 0, log_pi, -jnp.inf))
        return actions, probs, (hidden, jax.nn.one_hot(actions, spec.n_actions))

    return init_carry, act
