"""IPPO (de Witt et al., 2020): PPO whose value function sees only the agent's own observation
(``lica.algos.ppo.core``). Beyond the paper."""

from pydantic import NonNegativeFloat, PositiveFloat

from lica.algos.ppo import core


class Config(core.Config):
    """IPPO's settings: JaxMARL ``baselines/IPPO/config/ippo_rnn_smax.yaml`` where it differs
    from its MAPPO."""

    lr_policy: PositiveFloat = 0.004  # LR
    lr_critic: PositiveFloat = 0.004  # LR
    clip_eps: PositiveFloat = 0.05  # CLIP_EPS
    entropy_coef: NonNegativeFloat = 0.01  # ENT_COEF


# (env pattern, overrides), merged in order by ``lica.presets.lookup``.
PRESETS = [
    # StarCraft: the defaults, JaxMARL's SMAX settings, evaluated as every method there.
    # Particle environments: JaxMARL baselines/IPPO/config/ippo_ff_mpe.yaml (feed-forward
    # agents, 16 environments x 128 steps, lr 2.5e-4, clip 0.2, entropy 0.01, gradient norm
    # 0.5; its 64-unit tanh layers are 128-unit ReLU ones here), evaluated as Fig. 3.
    ("mpe:*", {"agent": "mlp", "batch_size": 16, "lr_policy": 2.5e-4, "lr_critic": 2.5e-4, "clip_eps": 0.2,
               "grad_clip": 0.5, "eval_interval": 50_000, "eval_episodes": 32}),
]


def make(spec, config: Config):
    return core.make(spec, config, critic_sees="obs")
