"""MAPPO (Yu et al., NeurIPS 2022 Datasets and Benchmarks): PPO whose value function sees the
global state (``lica.algos.ppo.core``). Beyond the paper."""

from lica.algos.ppo import core


class Config(core.Config):
    """MAPPO's settings: ``core.Config``'s defaults are JaxMARL's MAPPO on SMAX."""


# (env pattern, overrides), merged in order by ``lica.presets.lookup``.
PRESETS = [
    # StarCraft: the defaults, JaxMARL's SMAX settings, evaluated as every method there.
    # Particle environments: JaxMARL baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml (16
    # environments x 128 steps, lr 2e-3, entropy 0.01, gradient norm 0.5), evaluated as Fig. 3.
    ("mpe:*", {"batch_size": 16, "lr_policy": 2e-3, "lr_critic": 2e-3, "entropy_coef": 0.01, "grad_clip": 0.5,
               "eval_interval": 50_000, "eval_episodes": 32}),
]


def make(spec, config: Config):
    return core.make(spec, config, critic_sees="state")
