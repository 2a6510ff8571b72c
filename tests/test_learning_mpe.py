"""LICA learns the particle tasks: short runs beat the uniform random policy (Sec. 4.1)."""

import jax
import numpy as np
import pytest

from lica.config import resolve
from lica.train import make_train

SHORT = ["env_args.max_steps=25", "eval_episodes=64"]


def greedy_returns(env, algo, env_steps):
    config = resolve(env, algo, sets=SHORT, seeds=3, env_steps=env_steps, eval_interval=env_steps)
    _, init, chunk, evaluate = make_train(config)
    state = init()
    while int(state.env_steps.min()) < env_steps:
        state, _ = chunk(state)
    return np.asarray(jax.device_get(evaluate(state))["test_return_mean"])


@pytest.mark.slow
@pytest.mark.parametrize("env, env_steps, margin", [
    ("mpe:spread-3", 200_000, 4.0),  # 1000 updates of 8 episodes x 25 steps
    ("mpe:predator-prey", 150_000, 6.0),  # ~750 updates of 8 episodes of at most 25 steps
])
def test_lica_beats_uniform_random(env, env_steps, margin):
    random = greedy_returns(env, "random", 800)
    lica = greedy_returns(env, "lica", env_steps)
    print(f"{env}, 25-step episodes: random {random.round(1)}, LICA after {env_steps} steps {lica.round(1)}")
    assert np.all(lica > random.mean()), (lica, random)
    assert lica.mean() > random.mean() + margin, (lica, random)
