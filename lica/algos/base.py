"""What every algorithm provides to the shared rollout and training loop (DESIGN.md)."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lica import ops


class Algorithm(NamedTuple):
    """Pure functions of one algorithm, closed over the environment spec and config.

    - ``init(key) -> algo_state``: parameters, optimizer states, counters (a pytree).
    - ``init_carry(batch_shape) -> carry``: what the actors carry between steps (RNN hidden
      state, last action) at the start of an episode.
    - ``act(algo_state, carry, obs, avail, key, greedy) -> (actions, probs, carry)`` for
      ``obs [B, N, obs_dim]``; ``greedy`` is a Python bool (test episodes take the argmax).
    - ``update(algo_state, batch, key) -> (algo_state, metrics)``: one training step on a fresh
      ``Batch``; metrics is a dict of scalars.
    - ``on_policy``: ``update`` learns from the fresh batch alone (no replay) and reads padding
      as absent, so the trainer may cut trailing padding off the batch
      (``lica.trim.update_trimmed``).
    """

    init: Callable[..., Any]
    init_carry: Callable[..., Any]
    act: Callable[..., Any]
    update: Callable[..., Any]
    on_policy: bool = False


def softmax_actor(policy, n_actions: int):
    """``(init_carry, act)`` of agents that sample their masked softmax (tests take its argmax),
    for an algorithm state with ``policy`` parameters; the carry is ``(hidden, last action)``
    and ``probs`` the masked softmax the actions came from (LICA, PPO)."""

    def init_carry(batch_shape):
        hidden = policy.init_carry(batch_shape)
        return hidden, jnp.zeros(hidden.shape[:-1] + (n_actions,))

    def act(state, carry, obs, avail, key, greedy):
        hidden, last_action = carry
        hidden, logits = policy.step(state.policy, hidden, obs, last_action)
        probs = ops.masked_probs(logits, avail)
        if greedy:
            actions = jnp.argmax(probs, axis=-1)
        else:
            actions = jax.random.categorical(key, ops.mask_logits(logits, avail))
        return actions, probs, (hidden, jax.nn.one_hot(actions, n_actions))

    return init_carry, act


def ascend_critic(tx: optax.GradientTransformation, state, loss_fn):
    """One step of policies that ascend a critic through their actions (LICA's Eq. 4, the DDPG
    family): ``loss_fn(policy params) -> (loss, (q_mean, entropy))`` descended with ``tx`` on a
    state with ``policy`` and ``policy_opt``; returns the new state and the step's metrics."""
    (loss, (q_mean, entropy)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.policy)
    params, opt = ops.gradient_step(tx, state.policy, state.policy_opt, grads)
    metrics = {"policy_loss": loss, "policy_q_mean": q_mean, "policy_entropy": entropy,
               "policy_grad_norm": optax.global_norm(grads)}
    return state._replace(policy=params, policy_opt=opt), metrics
