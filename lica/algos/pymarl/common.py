"""The PyMARL plumbing every learner built on PyMARL shares: COMA, LIIR, VDN, QMIX, QTRAN, and
the agents' unroll that LICA and PPO reuse.

- ``PymarlConfig``: PyMARL's common settings (``src/config/default.yaml``): RMSProp, gradient
  clipping, the shared fc-GRU-fc agent with last action and agent id, a linear epsilon schedule.
  COMA and LIIR (policy-gradient) and VDN, QMIX, QTRAN (value-based) all build on it.
- ``optimizer``, the ``epsilon`` schedule, periodic target copies (``copy_to_target``), the
  agents' network (``agent_policy``), and the agents unrolled over a batch with their previous
  actions as inputs (``previous_actions``, ``unroll``, ``take``).
"""

from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import optax
from pydantic import Field, PositiveFloat, PositiveInt

from lica import ops, packing
from lica.batch import Batch
from lica.config import TrainConfig
from lica.nets import make_agent_policy

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
    state its rollout had (``batch.carry0``) and resets it where an episode begins. Whole
    episodes with ``batch.lanes`` set run packed into fewer rows (``lica.packing``); their
    outputs after an episode's final observation are then padding.

    Another network over the same steps (PPO's critic) passes its own inputs ``obs [T+1, B, N,
    D]`` and, on segments, the hidden state it had at the segment's start (``hidden0``).
    """
    obs = batch.obs if obs is None else obs

    def run(obs, last_action, first, hidden=None):
        hidden = policy.init_carry(obs.shape[1:2]) if hidden is None else hidden

        def step(hidden, xs):
            obs, last_action, first = xs
            if first is not None:
                hidden = ops.where_leading(first > 0, jnp.zeros_like(hidden), hidden)
            hidden, out = policy.step(params, hidden, obs, last_action)
            return hidden, (out, hidden)

        # Rematerialized: the backward pass recomputes each step from its hidden state rather than
        # storing and reading back every intermediate (smac:2s3z shapes: gradient 62 -> 37 ms).
        return jax.lax.scan(jax.checkpoint(step, prevent_cse=False), hidden, (obs, last_action, first))[1]

    if batch.first is not None:
        return run(obs, previous_actions(batch), batch.first, batch.carry0[0] if hidden0 is None else hidden0)
    if batch.lanes is None:
        return run(obs, previous_actions(batch), None)
    return packing.run_in_lanes(run, batch.mask, batch.lanes, (obs, previous_actions(batch)))


def take(values, actions):
    """``values[..., actions]``: the entry of each agent's chosen action (``[..., A] -> [...]``)."""
    return jnp.take_along_axis(values, actions[..., None], axis=-1)[..., 0]
