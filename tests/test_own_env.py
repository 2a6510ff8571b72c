"""Your own task and the Python API: ``--env module.path:callable``, ``lica.train`` with a name or
an environment object, ``lica.evaluate``, clear errors. (Every algorithm on a task of ours,
``examples.corridor``: tests/test_regression.py.)"""

from pathlib import Path

import pytest
from test_cli import read_rows, train

import lica
from examples.corridor import Corridor
from lica.config import parse_set

REPO = Path(__file__).parents[1]  # examples/ is a package there

# What learns the corridor in seconds: the particle presets' segments, faster learning rates.
LEARNS = ["rollout=segments", "batch_size=8", "segment_length=5", "lr_policy=0.001", "lr_critic=0.001",
          "target_update_interval=20", "xi=0.02", "eval_interval=10000", "eval_episodes=32"]


def test_lica_train_takes_a_module_path_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    run = tmp_path / "run"
    result = train("--env", "examples.corridor:make", "--seeds", "2", "--env-steps", "64",
                   "--set", "env_args.length=4", "--set", "eval_interval=64", "--out", str(run))
    assert result.exit_code == 0, result.output
    rows = read_rows(run)
    assert [int(r["env_steps"]) >= 64 for r in rows[2:]] == [True, True]


@pytest.mark.parametrize("env, error", [
    ("nosuchmodule:make", "unknown environment 'nosuchmodule:make' (no module named 'nosuchmodule')"),
    ("examples.corridor:nothing", "module 'examples.corridor' has no callable 'nothing'"),
    ("examples.corridor:LEFT", "module 'examples.corridor' has no callable 'LEFT'"),
    ("os:getcwd", "gave a str with no spec, reset, step"),
])
def test_a_bad_module_path_is_one_line(tmp_path, env, error):
    run = tmp_path / "run"
    result = train("--env", env, "--out", str(run))
    assert result.exit_code == 2 and error in result.output and "Traceback" not in result.output
    assert not run.exists()


def test_the_python_api_trains_an_environment_object_and_it_learns(tmp_path):
    """LICA walks the corridor: an untrained greedy policy (and a random one) rarely reaches the
    end within 20 steps; after 10k env steps every seed's greedy episode takes under 8."""
    run = lica.train(Corridor(n_agents=2, length=6), out=tmp_path / "run", seeds=3, env_steps=10_000,
                     **parse_set(LEARNS))
    assert run.config["env"] == "object:Corridor" and run.config["seeds"] == 3
    final = run.final()
    assert list(final["seed"]) == [0, 1, 2] and (final["env_steps"] >= 10_000).all()
    untrained = run.metrics.query("env_steps == 0")["test_episode_length"]
    assert (untrained > 15).all()
    assert (final["test_episode_length"] < 8).all(), final["test_episode_length"]


def test_lica_evaluate_reads_a_run_trained_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    run = lica.train("examples.corridor:make", out=tmp_path / "run", seeds=2, env_steps=64, eval_interval=64)
    table = lica.evaluate(run, episodes=8)
    assert list(table["seed"]) == [0, 1] and (table["test_episode_length"] <= 20).all()
    again = lica.train("examples.corridor:make", out=tmp_path / "run", resume=True, env_steps=128)
    assert again.final()["env_steps"].min() >= 128


def test_the_api_functions_are_not_shadowed_by_submodules():
    """Importing a submodule binds its name on the package: none may be called train or evaluate."""
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(lica.__path__, "lica."):
        importlib.import_module(module.name)
    assert lica.train is lica.api.train and lica.evaluate is lica.api.evaluate
