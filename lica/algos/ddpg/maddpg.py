"""MADDPG (Lowe et al. 2017), one of the paper's particle baselines (Sec. 4.1).

Centralized critics, decentralized actors: agent ``i`` has its own critic
``Q_i(o_1..o_n, a_1..a_n)`` on all agents' observations (or the global state, ``critic_input``)
and all agents' actions, regressed on the shared reward with a one-step TD target; its policy
ascends ``Q_i`` through its own straight-through Gumbel-softmax action, the other agents'
actions coming from their current policies (SQDDPG's ``models/maddpg.py``, ``get_loss``).
Everything but the critic's input is the shared machinery of ``lica.algos.ddpg.core``.
"""

from typing import Literal

import jax.numpy as jnp
from pydantic import NonNegativeFloat, PositiveFloat

from lica.algos.base import Algorithm
from lica.algos.ddpg import core


class Config(core.DDPGConfig):
    """MADDPG's hyper-parameters; defaults are SQDDPG's Cooperative Navigation settings."""

    lr_policy: PositiveFloat = 1e-4  # policy_lrate, args/simple_spread_maddpg.py
    lr_critic: PositiveFloat = 1e-3  # value_lrate, args/simple_spread_maddpg.py
    entropy_coef: NonNegativeFloat = 1e-3 * 32  # entr=1e-3 on the batch *sum* of entropies (trainer.py)
    critic_input: Literal["obs", "state"] = "obs"  # all observations concatenated (models/maddpg.py) or the state


# (env pattern, overrides), merged in order by ``lica.presets.lookup``. "SQDDPG" is the
# repository hsvgbkhgbv/SQDDPG (commit 33eef74) the paper follows for its baselines (A1.2).
PRESETS = [
    core.PARTICLE_PRESET,
    # Cooperative Navigation: args/simple_spread_maddpg.py (hid_size 32, batch_size 32,
    # gamma 0.9, policy_lrate 1e-4, value_lrate 1e-3, entr 1e-3 summed over the batch); A1.2.
    ("mpe:spread-*", {"hidden": 32, "critic_hidden": 32, "train_batch": 32, "gamma": 0.9,
                      "lr_policy": 1e-4, "lr_critic": 1e-3, "entropy_coef": 1e-3 * 32}),
    # Predator-Prey: args/simple_tag_maddpg.py (hid_size 128, batch_size 128, gamma 0.99,
    # policy_lrate 1e-4, value_lrate 5e-4, entr 1e-3 summed over the batch); A1.2.
    ("mpe:predator-prey", {"hidden": 128, "critic_hidden": 128, "train_batch": 128, "gamma": 0.99,
                           "lr_policy": 1e-4, "lr_critic": 5e-4, "entropy_coef": 1e-3 * 128}),
    core.JUNCTION_PRESET,
]


def make_critic(spec, config: Config) -> core.Critic:
    """Agent ``i``'s critic on ``[o_1..o_n (or s); a_1..a_n]`` (models/maddpg.py, ``value``)."""
    n, a = spec.n_agents, spec.n_actions
    use_state = config.critic_input == "state"
    x_dim = spec.state_dim if use_state else n * spec.obs_dim
    init, apply = core.agent_critics(n, config.critic_hidden, x_dim, n * a)

    def values(params, obs, state, joint, key):
        x = core.critic_inputs_all(obs, state, use_state)
        x = jnp.broadcast_to(x[..., None, :], joint.shape[:-2] + (x_dim,))
        return apply(params, x, joint.reshape(joint.shape[:-2] + (n * a,)))

    return core.Critic(init, values, joint_td=False)


def make(spec, config: Config) -> Algorithm:
    return core.make(spec, config, make_critic(spec, config))
