"""SQDDPG: Shapley Q-value DDPG (Wang et al., AAAI 2020), one of the paper's baselines (Sec. 4.1).

Credit assignment by approximate Shapley values. For an ordering of the agents, agent ``i``'s
coalition ``C_i`` is the set of agents before it; its marginal contribution is approximated
directly by a network ``Phi_i(o, a_{C_i + i})`` that sees all observations (or the state) and the
actions of ``C_i`` and ``i`` only, the actions of everybody else zeroed. Agent ``i``'s Shapley
Q-value is the average of ``Phi_i`` over ``sample_size`` orderings drawn uniformly at random
(independently for every transition); with all ``n!`` orderings it is the exact Shapley value
of the coalition game whose marginal contributions ``Phi`` gives. Training (SQDDPG's
``models/sqddpg.py``, ``get_loss``):

- critic: the Shapley Q-values of the taken actions must add up to the global Q-value, so
  ``sum_i Q_i(o, a)`` is regressed on ``r + gamma * sum_i Q'_i(o', a')`` of the target networks
  (one TD target for the sum; every agent's ``Phi_i`` gets the same TD error);
- policy: agent ``i`` ascends its own Shapley Q-value ``Q_i`` through its own straight-through
  Gumbel-softmax action.

Everything else is the shared machinery of ``lica.algos.ddpg.core``.
"""

import itertools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from lica.algos.base import Algorithm
from lica.algos.ddpg import core


class Config(core.DDPGConfig):
    """SQDDPG's hyper-parameters; defaults are SQDDPG's Cooperative Navigation settings."""

    lr_policy: PositiveFloat = 1e-4  # policy_lrate, args/simple_spread_sqddpg.py
    lr_critic: PositiveFloat = 1e-3  # value_lrate, args/simple_spread_sqddpg.py
    entropy_coef: NonNegativeFloat = 1e-2 * 32  # entr=1e-2 on the batch *sum* of entropies (trainer.py)
    sample_size: PositiveInt = 5  # sampled orderings M, sqddpgArgs(sample_size=5), args/simple_spread_sqddpg.py
    critic_input: Literal["obs", "state"] = "obs"  # all observations concatenated (models/sqddpg.py) or the state


# (env pattern, overrides), merged in order by ``lica.presets.lookup``. "SQDDPG" is the
# repository hsvgbkhgbv/SQDDPG (commit 33eef74) the paper follows for its baselines (A1.2).
PRESETS = [
    core.PARTICLE_PRESET,
    # Cooperative Navigation: args/simple_spread_sqddpg.py (hid_size 32, batch_size 32,
    # gamma 0.9, policy_lrate 1e-4, value_lrate 1e-3, entr 1e-2 summed over the batch,
    # sample_size 5); A1.2.
    ("mpe:spread-*", {"hidden": 32, "critic_hidden": 32, "train_batch": 32, "gamma": 0.9,
                      "lr_policy": 1e-4, "lr_critic": 1e-3, "entropy_coef": 1e-2 * 32, "sample_size": 5}),
    # Predator-Prey: args/simple_tag_sqddpg.py (hid_size 128, batch_size 128, gamma 0.99,
    # policy_lrate 1e-4, value_lrate 5e-4, entr 1e-3 summed over the batch, sample_size 1); A1.2.
    ("mpe:predator-prey", {"hidden": 128, "critic_hidden": 128, "train_batch": 128, "gamma": 0.99,
                           "lr_policy": 1e-4, "lr_critic": 5e-4, "entropy_coef": 1e-3 * 128,
                           "sample_size": 1}),
    core.JUNCTION_PRESET,
]


def coalition_masks(priorities):
    """Coalition of every agent under the orderings given by ``priorities [..., N]``.

    Agents act in increasing priority (any real numbers without ties: ranks, or uniform noise
    for a uniformly random ordering). Returns ``[..., N, N]`` with ``mask[..., i, j] = 1`` when
    agent ``j`` is in agent ``i``'s coalition or is ``i`` itself, i.e. ``C_i + {i}``.
    """
    return (priorities[..., None, :] <= priorities[..., :, None]).astype(jnp.float32)


def sample_coalition_masks(key, shape, n_agents):
    """``coalition_masks`` of ``shape`` orderings drawn uniformly at random: ``[*shape, N, N]``."""
    return coalition_masks(jax.random.uniform(key, tuple(shape) + (n_agents,)))


def all_orderings(n_agents):
    """The ranks of all ``n!`` orderings of ``n`` agents, ``[n!, N]`` (for exact Shapley values)."""
    perms = np.array(list(itertools.permutations(range(n_agents))))
    return jnp.asarray(np.argsort(perms, axis=-1), jnp.float32)


def shapley_q(phi, x, joint, masks):
    """Average over orderings of every agent's marginal contribution.

    ``x [..., x_dim]`` is what every ``Phi`` sees besides actions; ``joint [..., N, N, A]`` (row
    ``i`` for agent ``i``, see ``core.own_action_joint``); ``masks [..., M, N, N]`` the coalitions
    of ``M`` orderings. ``phi(x [..., M, N, x_dim], u [..., M, N, N*A]) -> [..., M, N]`` gets agent
    ``i``'s row of the joint action with the actions outside ``C_i + {i}`` zeroed. Returns
    ``[..., N]``.
    """
    u = joint[..., None, :, :, :] * masks[..., None]  # [..., M, N, N, A]
    u = u.reshape(u.shape[:-2] + (-1,))
    x = jnp.broadcast_to(x[..., None, None, :], u.shape[:-1] + x.shape[-1:])
    return jnp.mean(phi(x, u), axis=-2)


def make_critic(spec, config: Config) -> core.Critic:
    """``Phi_i`` on ``[o_1..o_n (or s); coalition-masked a_1..a_n]`` (models/sqddpg.py,
    ``marginal_contribution``), averaged over ``sample_size`` random orderings."""
    n, a = spec.n_agents, spec.n_actions
    use_state = config.critic_input == "state"
    x_dim = spec.state_dim if use_state else n * spec.obs_dim
    init, apply = core.agent_critics(n, config.critic_hidden, x_dim, n * a)

    def values(params, obs, state, joint, key):
        masks = sample_coalition_masks(key, joint.shape[:-3] + (config.sample_size,), n)
        x = core.critic_inputs_all(obs, state, use_state)
        return shapley_q(lambda x, u: apply(params, x, u), x, joint, masks)

    return core.Critic(init, values, joint_td=True)


def make(spec, config: Config) -> Algorithm:
    return core.make(spec, config, make_critic(spec, config))
