"""LICA learns Cooperative Navigation: a short run beats the uniform random policy (Sec. 4.1)."""

import jax
import numpy as np
import pytest

from lica.config import resolve
from lica.train import make_train

SHORT = ["env_args.max_steps=25", "eval_episodes=64"]


def greedy_returns(algo, env_steps):
    config = resolve("mpe:spread-3", algo, sets=SHORT, seeds=3, env_steps=env_steps, eval_interval=env_steps)
    _, init, chunk, evaluate = make_train(config)
    state = init()
    while int(state.env_steps.min()) < env_steps:
        state, _ = chunk(state)
    return np.asarray(jax.device_get(evaluate(state))["test_return_mean"])


@pytest.mark.slow
def test_lica_beats_uniform_random_on_spread_3():
    random = greedy_returns("random", 800)
    lica = greedy_returns("lica", 400_000)  # 500 updates of 32 episodes x 25 steps
    print(f"spread-3, 25-step episodes: random {random.round(1)}, LICA after 400k steps {lica.round(1)}")
    assert np.all(lica > random.mean()), (lica, random)
    assert lica.mean() > random.mean() + 4.0, (lica, random)
