"""Fixed-seed metrics of every algorithm, against the values recorded in ``golden_metrics.json``.
The task is one of our own (``examples.corridor``, passed as an environment object), so these
runs also show that every algorithm trains on a task a user writes.

A change that is not meant to alter learning (a refactor, a speed-up) must leave these as they
were, to 1e-4 (``RTOL``, ``ATOL``). A change that is meant to alter learning re-records them, and says so in its
commit:

    LICA_RECORD_GOLDEN=1 python -m pytest tests/test_regression.py
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from examples.corridor import Corridor
from lica import algos
from lica.config import resolve
from lica.trainer import make_train

GOLDEN = Path(__file__).parent / "golden_metrics.json"
RECORD = os.environ.get("LICA_RECORD_GOLDEN") == "1"

# float32 sums come out a little differently on different CPUs (the order a vectorized reduction
# adds in): the same tree gave IPPO's policy_grad_norm 3.4e-5 (relative) away from the recorded
# value on an AMD EPYC machine. LIIR's meta_loss is (pi'/pi - 1) / lr for a tiny policy step, a
# difference of two numbers near 1 that keeps about 3 significant digits in float32 (2e-3 there;
# tests/test_batch.py has the same allowance). A loss that is the mean of terms of both signs
# (PPO's surrogate on normalized advantages) is small beside its terms, and its error absolute:
# IPPO's policy_loss moved by 2.9e-6 there.
RTOL, ATOL = 1e-4, 1e-5
RTOL_OF = {"meta_loss": 1e-2}

# A few updates of each algorithm: 2 seeds, 4 environments, on the corridor (examples/).
COMMON = dict(seeds=2, env_steps=160, batch_size=4, eval_interval=160, eval_episodes=4)
EXTRA = {  # what makes the algorithm update within the budget
    "vdn": dict(buffer_size=16), "qmix": dict(buffer_size=16), "qtran": dict(buffer_size=16),
    "iddpg": dict(update_every=20, train_batch=8, target_update_every=40),
    "maddpg": dict(update_every=20, train_batch=8, target_update_every=40),
    "sqddpg": dict(update_every=20, train_batch=8, target_update_every=40),
    "ippo": dict(segment_length=10, minibatches=2), "mappo": dict(segment_length=10, minibatches=2),
    "lica": dict(target_update_interval=2), "coma": dict(target_update_interval=20),
}


def metrics_of(algo):
    env = Corridor()
    config = resolve("object:Corridor", algo, env_object=env, **COMMON, **EXTRA.get(algo, {}))
    program = make_train(config, env)
    state, metrics = program.train_interval(program.init())
    assert (np.asarray(state.env_steps) >= COMMON["env_steps"]).all()  # each seed ran its budget
    return {k: np.asarray(v, np.float64).tolist() for k, v in sorted(metrics.items())}


@pytest.fixture(scope="module")
def golden():
    recorded = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    yield recorded
    if RECORD:
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("algo", algos.names())
def test_fixed_seed_metrics_are_as_recorded(algo, golden):
    metrics = metrics_of(algo)
    if RECORD:
        golden[algo] = metrics
        return
    assert algo in golden, f"no recorded metrics for {algo}: record them (see this file's docstring)"
    assert sorted(metrics) == sorted(golden[algo])
    for key, expected in golden[algo].items():
        rtol = RTOL_OF.get(key, RTOL)
        np.testing.assert_allclose(metrics[key], expected, rtol=rtol, atol=ATOL, err_msg=f"{algo}: {key}")
    assert metrics["interval_updates"][0] >= 2 or algo == "random"  # it did learn something
