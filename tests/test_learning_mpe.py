"""LICA learns the particle tasks at the paper's 200-step episodes (Sec. 4.1) with its default
settings (segments of ongoing episodes), beating the uniform random policy by a margin."""

import jax
import numpy as np
import pytest

from lica.config import resolve
from lica.trainer import make_train


def train(env, algo, env_steps, sets=()):
    """Each seed's last evaluation interval's metrics (training episodes since the evaluation before, and the
    greedy test) after ``env_steps`` with the default settings of ``algo`` on ``env``."""
    config = resolve(env, algo, sets=["eval_episodes=64", *sets], seeds=3, env_steps=env_steps)
    program = make_train(config)
    state = program.init()
    while int(state.env_steps.min()) < env_steps:
        state, metrics = program.train_interval(state)
    return {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}


def random_policy(env):
    """The uniform policy's metrics over 3 x 64 greedy (= uniform) test episodes."""
    return train(env, "random", 1, ["eval_interval=1"])


@pytest.mark.slow
def test_lica_learns_cooperative_navigation_on_200_step_episodes():
    random = random_policy("mpe:spread-3")
    lica = train("mpe:spread-3", "lica", 100_000)  # ~3,100 updates of 8 environments x 4 steps
    per_step = lambda m: m["test_return_mean"] / m["test_episode_length"]
    print(f"spread-3 reward per step: random {per_step(random).round(2)}, LICA {per_step(lica).round(2)}")
    assert np.all(per_step(random) < -2.9)  # the uniform policy sits near -3.2
    assert np.all(per_step(lica) > -2.7), per_step(lica)


@pytest.mark.slow
def test_lica_catches_the_prey_faster_on_200_step_episodes():
    random = random_policy("mpe:predator-prey")["test_episode_length"]
    lica = train("mpe:predator-prey", "lica", 200_000)["train_episode_length"]  # the paper's metric
    print(f"predator-prey steps per episode: random {random.round(1)}, LICA (training) {lica.round(1)}")
    assert np.mean(lica) < 0.85 * np.mean(random), (lica, random)
    assert np.all(lica < np.mean(random)), (lica, random)
