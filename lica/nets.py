"""Flax networks: decentralized agents and centralized critics (Fig. 1 and Fig. A2).

Agents are ``fc -> ReLU -> [GRUCell] -> fc`` (Fig. 1a, A1.1); without the GRU the same module is
the 1-hidden-layer MLP of the particle tasks (A1.2). ``AgentPolicy`` runs one such network for
all agents, with parameters shared (one-hot agent id appended to the input) or one copy per agent.
"""

from typing import Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

InitScheme = Literal["torch", "flax"]


def initialize(scheme: InitScheme, key, params):
    """``params`` as Flax initialized them (``"flax"``: lecun-normal kernels, zero biases,
    orthogonal recurrent kernels) or redrawn from PyTorch's defaults (``"torch"``), which the
    reference code (PyMARL, SQDDPG) gets without asking: a ``Linear`` layer's weight and bias
    are U(+-1/sqrt(fan_in)), and every weight and bias of a ``GRUCell`` is U(+-1/sqrt(hidden)).

    ``params`` is any nest of Flax parameter dicts; a dict holding a ``kernel`` is one layer,
    inside a ``GRUCell_*`` module its bound comes from the hidden width. Leading axes (one copy
    per agent) are kept.
    """
    if scheme == "flax":
        return params
    leaves, treedef = jax.tree.flatten_with_path(params)
    paths = [tuple(str(getattr(p, "key", p)) for p in path) for path, _ in leaves]
    fan_in = {}  # layer path -> the fan-in that bounds its weights and bias
    for path, (_, leaf) in zip(paths, leaves):
        if path[-1] == "kernel":
            in_gru = any(name.startswith("GRUCell") for name in path)
            fan_in[path[:-1]] = leaf.shape[-1] if in_gru else leaf.shape[-2]
    keys = jax.random.split(key, len(leaves))
    redrawn = [jax.random.uniform(k, leaf.shape, leaf.dtype, -1.0, 1.0) * fan_in[path[:-1]] ** -0.5
               for k, path, (_, leaf) in zip(keys, paths, leaves)]
    return jax.tree.unflatten(treedef, redrawn)


class AgentNet(nn.Module):
    """One agent's network: fc(hidden) -> ReLU -> GRUCell(hidden) if recurrent -> fc(n_actions)."""

    hidden: int
    n_actions: int
    recurrent: bool

    @nn.compact
    def __call__(self, carry, x):
        h = nn.relu(nn.Dense(self.hidden)(x))
        if self.recurrent:
            carry, h = nn.GRUCell(self.hidden)(carry, h)
        return carry, nn.Dense(self.n_actions)(h)


class AgentPolicy(NamedTuple):
    """Pure functions of the agents' network for ``n_agents`` agents.

    ``step(params, carry, obs, last_action) -> (carry, logits)`` with ``obs [..., N, obs_dim]``,
    ``last_action [..., N, n_actions]`` (one-hot; zeros at t=0), ``carry [..., N, hidden]``.
    """

    init: callable
    init_carry: callable
    step: callable


def make_agent_policy(n_agents, obs_dim, n_actions, hidden, recurrent, share_params, last_action_input, net=None):
    """An ``AgentPolicy`` of ``AgentNet`` or of any ``net`` with its call signature
    ``(carry, x) -> (carry, out)`` and carry ``[..., hidden]`` (PPO's actor and critic)."""
    net = net or AgentNet(hidden, n_actions, recurrent)

    def inputs(obs, last_action):
        parts = [obs]
        if last_action_input:
            parts.append(last_action)
        if share_params:
            parts.append(jnp.broadcast_to(jnp.eye(n_agents), obs.shape[:-1] + (n_agents,)))
        return jnp.concatenate(parts, axis=-1)

    def init_carry(batch_shape=()):
        return jnp.zeros(batch_shape + (n_agents, hidden))

    def init(key):
        dummy_x = inputs(jnp.zeros((n_agents, obs_dim)), jnp.zeros((n_agents, n_actions)))
        if share_params:
            return net.init(key, init_carry(), dummy_x)
        keys = jax.random.split(key, n_agents)
        return jax.vmap(net.init)(keys, init_carry(), dummy_x)

    # Without sharing, agent a's parameters (leading axis) meet agent a's inputs (axis -2).
    apply = net.apply if share_params else jax.vmap(net.apply, in_axes=(0, -2, -2), out_axes=-2)

    def step(params, carry, obs, last_action):
        return apply(params, carry, inputs(obs, last_action))

    return AgentPolicy(init, init_carry, step)


class MixingCritic(nn.Module):
    """LICA's mixing critic C_Mix (Fig. 1b): hypernetworks of the state mix the action vectors.

    ``Q = relu(u @ W1(s) + b1(s)) @ W2(s) + b2(s)`` with ``u`` the agents' concatenated action
    probability vectors (one-hot actions when training the critic). The state and the actions meet
    multiplicatively in ``u @ W1(s)`` (Sec. 3.2). No absolute value on the weights, unlike QMIX.
    ``hypernet_hidden`` defaults to the width of W1 itself, as in the authors' code.
    """

    embed: int = 64
    hypernet_hidden: int | None = None

    @nn.compact
    def __call__(self, state, actions):
        n_in = actions.shape[-1]
        width = self.embed * n_in
        hidden = self.hypernet_hidden or width
        w1 = nn.Dense(width)(nn.relu(nn.Dense(hidden)(state))).reshape(state.shape[:-1] + (n_in, self.embed))
        b1 = nn.Dense(self.embed)(state)
        h = nn.relu(jnp.einsum("...i,...ij->...j", actions, w1) + b1)
        w2 = nn.Dense(self.embed)(nn.relu(nn.Dense(self.embed)(state)))
        b2 = nn.Dense(1)(nn.relu(nn.Dense(self.embed)(state)))[..., 0]
        return jnp.sum(h * w2, axis=-1) + b2


class MLPCritic(nn.Module):
    """The C_MLP ablation (Fig. A2): an MLP on the concatenated state and action vectors.

    State and actions first meet additively, in one linear layer over their concatenation.
    """

    embed: int = 64

    @nn.compact
    def __call__(self, state, actions):
        x = jnp.concatenate([state, actions], axis=-1)
        x = nn.relu(nn.Dense(self.embed)(x))
        x = nn.relu(nn.Dense(self.embed)(x))
        return nn.Dense(1)(x)[..., 0]


def make_critic(kind: str, embed: int, hypernet_hidden: int | None = None) -> nn.Module:
    """``kind='mix'`` is LICA's mixing critic, ``'mlp'`` the C_MLP ablation."""
    return MixingCritic(embed, hypernet_hidden) if kind == "mix" else MLPCritic(embed)
