"""IDDPG: independent DDPG (Lillicrap et al. 2016), one of the paper's particle baselines (Sec. 4.1).

Each agent learns alone: its critic ``Q_i(o_i, a_i)`` sees only its own observation and its own
action, and is regressed on the shared reward with a one-step TD target; its policy ascends
``Q_i`` through a straight-through Gumbel-softmax action. Everything but the critic's input is
the shared DDPG machinery of ``lica.algos.ddpg.core`` (the SQDDPG code's ``models/independent_ddpg.py``
with ``learning_algorithms/ddpg.py``).
"""

import jax.numpy as jnp
from pydantic import NonNegativeFloat, PositiveFloat

from lica.algos.base import Algorithm
from lica.algos.ddpg import core


class Config(core.DDPGConfig):
    """IDDPG's hyper-parameters; defaults are SQDDPG's Cooperative Navigation settings."""

    lr_policy: PositiveFloat = 1e-3  # policy_lrate, args/simple_spread_independent_ddpg.py
    lr_critic: PositiveFloat = 1e-2  # value_lrate, args/simple_spread_independent_ddpg.py
    entropy_coef: NonNegativeFloat = 1e-2 * 32  # entr=1e-2 on the batch *sum* of entropies (trainer.py)


# (env pattern, overrides), merged in order by ``lica.presets.lookup``. "SQDDPG" is the
# repository hsvgbkhgbv/SQDDPG (commit 33eef74) the paper follows for its baselines (A1.2).
PRESETS = [
    core.PARTICLE_PRESET,
    # Cooperative Navigation: args/simple_spread_independent_ddpg.py (hid_size 32, batch_size 32,
    # gamma 0.9, policy_lrate 1e-3, value_lrate 1e-2, entr 1e-2 summed over the batch); A1.2.
    ("mpe:spread-*", {"hidden": 32, "critic_hidden": 32, "train_batch": 32, "gamma": 0.9,
                      "lr_policy": 1e-3, "lr_critic": 1e-2, "entropy_coef": 1e-2 * 32}),
    # Predator-Prey: args/simple_tag_independent_ddpg.py (hid_size 128, batch_size 128,
    # gamma 0.99, policy_lrate 1e-4, value_lrate 5e-4, entr 1e-3 summed over the batch); A1.2.
    ("mpe:predator-prey", {"hidden": 128, "critic_hidden": 128, "train_batch": 128, "gamma": 0.99,
                           "lr_policy": 1e-4, "lr_critic": 5e-4, "entropy_coef": 1e-3 * 128}),
    core.JUNCTION_PRESET,
]


def make_critic(spec, config: Config) -> core.Critic:
    """Agent ``i``'s critic on ``[o_i; a_i]`` (models/independent_ddpg.py, ``value``)."""
    n, a = spec.n_agents, spec.n_actions
    init, apply = core.agent_critics(n, config.critic_hidden, spec.obs_dim, a)

    def values(params, obs, state, joint, key):
        own = jnp.diagonal(joint, axis1=-3, axis2=-2)  # [..., A, N]: row i, agent i
        return apply(params, obs, jnp.moveaxis(own, -1, -2))

    return core.Critic(init, values, joint_td=False)


def make(spec, config: Config) -> Algorithm:
    return core.make(spec, config, make_critic(spec, config))
