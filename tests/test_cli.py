"""The ``lica`` command and run directories: outputs, errors, overwrite protection, resume."""

import csv
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lica import envs
from lica.cli import app
from lica.config import packaged_configs, resolve
from lica.envs.junction import TrafficJunction
from lica.run import seed_rows

envs.names()  # import every family now: jaxmarl's import-time printing confuses CliRunner's capture
runner = CliRunner()
FAST = ["--env", "junction", "--seeds", "2"]


def train(*args):
    return runner.invoke(app, ["train", *args])


def read_rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_train_writes_config_metrics_tensorboard_checkpoint(tmp_path):
    run = tmp_path / "run"
    result = train(*FAST, "--env-steps", "1280", "--out", str(run))
    assert result.exit_code == 0, result.output
    assert "final (median over 2 seeds)" in result.output
    rows = read_rows(run)
    assert len(rows) == 2 * 3  # step 0 and two evaluations, per seed
    for column in ["seed", "env_steps", "updates", "wall_s", "test_return_mean", "test_episode_length",
                   "policy_entropy", "critic_loss"]:
        assert column in rows[0]
    assert [int(r["env_steps"]) for r in rows[-2:]] == [1280, 1280]
    batch = yaml.safe_load((run / "config.yaml").read_text())["batch_size"]
    for seed in ("0", "1"):  # every training episode counted once: updates x batch size
        mine = [r for r in rows if r["seed"] == seed]
        assert sum(int(r["train_episodes"] or 0) for r in mine) == int(mine[-1]["updates"]) * batch
    assert (run / "config.yaml").exists() and (run / "checkpoint.npz").exists()
    assert any((run / "tb" / "seed_0").iterdir())


def test_training_episodes_and_wins_are_counted_per_interval():
    config = SimpleNamespace(seeds=3, seed=0, batch_size=8)
    ts = SimpleNamespace(env_steps=np.array([100, 90, 100]), updates=np.array([4, 3, 4]))
    metrics = {"train_win_rate": np.array([0.25, 0.5, 0.0]), "train_return_mean": np.array([1.0, 2.0, 0.0]),
               "train_episodes": np.array([32.0, 0.0, 0.0]), "interval_updates": np.array([4, 0, 4])}
    rows = seed_rows(config, ts, metrics, wall_s=1.0)
    assert [r["seed"] for r in rows] == [0, 2]  # seed 1 ran no update in this interval
    assert rows[0]["train_episodes"] == 32 and rows[0]["train_wins"] == 8
    # seed 2 trained but no training episode ended (a segment run): no means, not zeros
    assert rows[1]["train_episodes"] == 0 and "train_return_mean" not in rows[1] and "train_wins" not in rows[1]


@pytest.mark.parametrize("args, message", [
    (["--env", "nope"], "unknown environment 'nope'; choose one of:"),
    (["--env", "junction", "--algo", "nope"], "unknown algorithm 'nope'; choose one of: lica"),
    (["--env", "junction", "--set", "nope=1"], "unknown config key 'nope'; valid keys:"),
    (["--env", "junction", "--set", "xi=abc"], "bad value for config key 'xi'"),
    (["--env", "junction", "--set", "critic=deep"], "bad value for config key 'critic'"),
    (["--env", "junction", "--set", "xi"], "--set expects key=value"),
    (["--env", "mpe:spread-3", "--set", "env_args.bogus=1"], "unknown argument 'bogus' for environment 'mpe'"),
    (["--env", "junction", "--resume"], "resuming needs the run directory: --out RUN_DIR"),
    (["--algo", "lica"], "no environment: name one with --env"),
    (["--env", "junction", "--algo", "mappo", "--set", "ent_coef=0.1"], "config key 'ent_coef' is now 'entropy_coef'"),
    (["--env", "junction", "--logger", "mlflow"], "unknown logger 'mlflow'; choose from: csv, tensorboard, wandb"),
    (["--env", "junction", "--config", "nope"], "config file 'nope' not found; give a YAML file's path or one of:"),
])
def test_bad_input_is_a_one_line_error_with_exit_2_and_writes_nothing(tmp_path, args, message):
    run = tmp_path / "run"
    result = train(*args, "--out", str(run)) if "--resume" not in args else train(*args)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("error:") == 1
    assert "Traceback" not in result.output
    assert not run.exists()  # an environment's bad argument too: no empty run directory left


def test_a_training_state_larger_than_memory_is_a_one_line_error(tmp_path, monkeypatch):
    """QMIX on the junction (a replay buffer of 256 episodes) needs 0.3 MiB for 2 seeds: with
    0.1 MiB available, the run stops before allocating it, naming the fix, and leaves no run behind."""
    monkeypatch.setattr("lica.run.available_memory", lambda: 2**20 // 10)
    run = tmp_path / "run"
    result = train(*FAST, "--algo", "qmix", "--out", str(run))
    assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
    assert "the training state of 2 seed(s) needs 0.3 MiB and 0.1 MiB are available" in result.output
    assert "--set buffer_size=N" in result.output
    assert "Traceback" not in result.output and not run.exists()
    monkeypatch.setattr("lica.run.available_memory", lambda: 2**40)
    assert train(*FAST, "--algo", "qmix", "--env-steps", "640", "--out", str(run)).exit_code == 0


def test_an_unwritable_out_is_a_one_line_error():
    result = train(*FAST, "--out", "/proc/no_such_dir/run")
    assert result.exit_code == 2 and "cannot create run directory '/proc/no_such_dir/run'" in result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1


def test_commands_print_nothing_of_jaxmarl():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys; from lica.cli import main; sys.argv = ['lica', 'list']; "
                          "main()"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "mpe:spread-3" in out.stdout
    assert "submoduled" not in out.stdout + out.stderr


def test_existing_run_is_never_overwritten_without_asking(tmp_path):
    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "640", "--out", str(run)).exit_code == 0
    before = (run / "metrics.csv").read_bytes()
    result = train(*FAST, "--env-steps", "640", "--out", str(run))
    assert result.exit_code == 2 and "--resume" in result.output and "--overwrite" in result.output
    assert (run / "metrics.csv").read_bytes() == before
    assert train(*FAST, "--env-steps", "640", "--out", str(run), "--overwrite").exit_code == 0


def test_resume_continues_to_the_same_result(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train(*FAST, "--env-steps", "1920", "--out", str(straight)).exit_code == 0
    assert train(*FAST, "--env-steps", "640", "--out", str(split)).exit_code == 0
    # as the interrupt's hint says: the run's environment and algorithm come from its config
    result = train("--env-steps", "1920", "--out", str(split), "--resume")
    assert result.exit_code == 0, result.output
    a, b = read_rows(straight), read_rows(split)
    assert len(a) == len(b) == 2 * 4
    for ra, rb in zip(a, b):
        ra.pop("wall_s"), rb.pop("wall_s")
        assert ra == rb


def test_resume_takes_set_overrides_over_the_saved_config(tmp_path):
    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "640", "--out", str(run)).exit_code == 0
    result = train(*FAST, "--env-steps", "1280", "--set", "eval_interval=320", "--out", str(run), "--resume")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["eval_interval"] == 320
    assert [int(r["env_steps"]) for r in read_rows(run) if r["seed"] == "0"] == [0, 640, 960, 1280]


def test_wandb_logger_writes_one_offline_run_per_seed_and_resumes_them(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    result = train(*FAST, "--env-steps", "640", "--logger", "wandb", "--out", str(run))
    assert result.exit_code == 0, result.output
    ids = yaml.safe_load((run / "wandb" / "ids.json").read_text())
    offline = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert sorted(ids) == ["0", "1"] and len(offline) == 2
    assert all(any(name.endswith(ids[seed]) for name in offline) for seed in ids)
    assert not (run / "tb").exists()  # wandb instead of TensorBoard
    assert train(*FAST, "--env-steps", "1280", "--logger", "wandb", "--out", str(run), "--resume").exit_code == 0
    assert yaml.safe_load((run / "wandb" / "ids.json").read_text()) == ids  # the same W&B runs go on


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "640", "--out", str(run)).exit_code == 0
    (run / "checkpoint.npz").write_bytes(b"not a checkpoint")
    result = train(*FAST, "--env-steps", "1280", "--out", str(run), "--resume")
    assert result.exit_code == 2 and "corrupt" in result.output and "--overwrite" in result.output
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 2 and "corrupt" in result.output


class NaNJunction(TrafficJunction):
    def step(self, key, env_state, actions):
        out = list(super().step(key, env_state, actions))
        out[3] = out[3] * jnp.nan  # reward
        return tuple(out)


def test_nan_in_training_stops_with_a_clear_error_and_keeps_what_was_written(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "640", "--out", str(run)).exit_code == 0
    checkpoint, metrics = (run / "checkpoint.npz").read_bytes(), (run / "metrics.csv").read_bytes()
    monkeypatch.setattr("lica.envs.junction.make", lambda task=None: NaNJunction())
    result = train(*FAST, "--env-steps", "1280", "--out", str(run), "--resume")
    assert result.exit_code == 2 and "training diverged" in result.output
    assert (run / "checkpoint.npz").read_bytes() == checkpoint
    assert (run / "metrics.csv").read_bytes() == metrics


def test_eval_reports_greedy_metrics_and_refuses_to_draw_the_junction(tmp_path):
    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "1280", "--out", str(run)).exit_code == 0
    result = runner.invoke(app, ["eval", str(run), "--episodes", "4"])
    assert result.exit_code == 0 and "test_return_mean" in result.output
    result = runner.invoke(app, ["eval", str(run), "--render", str(tmp_path / "x.gif")])
    assert result.exit_code == 2 and "cannot be drawn" in result.output


def test_list_shows_environments_algorithms_presets():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    for name in ["junction", "lica", "presets", "lica-smax"]:
        assert name in result.output


@pytest.mark.parametrize("name", packaged_configs())
def test_a_shipped_config_is_named_by_its_file_and_holds_valid_keys(name):
    assert resolve("smac:2s3z", "lica", file=name) != resolve("smac:2s3z", "lica")


def test_one_vocabulary_old_key_names_point_to_the_new_ones(tmp_path):
    run = tmp_path / "run"
    result = train("--env", "junction", "--algo", "coma", "--set", "lr=0.001", "--out", str(run))
    assert result.exit_code == 2 and "config key 'lr' is now 'lr_policy'" in result.output
    assert not run.exists()
    result = train("--env", "junction", "--algo", "coma", "--set", "lr_policy=0.001", "--set", "lr_critic=0.002",
                   "--env-steps", "640", "--out", str(run))
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["lr_policy"], saved["lr_critic"]) == (0.001, 0.002)
    # a run written before the rename resumes under the new names
    saved["lr"], saved["critic_lr"] = saved.pop("lr_policy"), saved.pop("lr_critic")
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    result = train("--env", "junction", "--algo", "coma", "--env-steps", "1280", "--out", str(run), "--resume")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["lr_policy"] == 0.001
    # value-based learners keep their single 'lr' (the config is all that is at stake: no training)
    assert resolve("junction", "qmix", sets=["lr=0.001"]).lr == 0.001


def test_list_keys_shows_every_key_with_its_default_and_meaning():
    from lica.algos.pymarl import coma

    result = runner.invoke(app, ["list", "--keys", "coma"], terminal_width=250)
    assert result.exit_code == 0
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 3}
    assert set(coma.Config.model_fields) <= set(lines)
    assert "0.0005" in lines["lr_policy"] and "coma.yaml" in lines["lr_policy"]
    assert "PRNGKey(seed + i)" in lines["seed"]
    result = runner.invoke(app, ["list", "--keys", "nope"])
    assert result.exit_code == 2 and "unknown algorithm 'nope'" in result.output


def test_export_writes_marl_eval_json(tmp_path):
    import json

    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "1280", "--out", str(run)).exit_code == 0
    result = runner.invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    runs = data["junction"]["junction"]["lica"]
    assert sorted(runs) == ["run_0", "run_1"]
    rows = [r for r in read_rows(run) if r["seed"] == "1"]
    assert [runs["run_1"][f"step_{k}"]["step_count"] for k in range(len(rows))] == [int(r["env_steps"]) for r in rows]
    assert runs["run_1"]["step_2"]["return"] == [float(rows[2]["test_return_mean"])]
    assert runs["run_1"]["absolute_metrics"]["return"] == [float(rows[-1]["test_return_mean"])]
    result = runner.invoke(app, ["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "no metrics.csv in" in result.output and not (tmp_path / "x.json").exists()


def test_plot_aggregate_prints_iqm_and_probability_of_improvement(tmp_path):
    finals = {"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 0.0, 0.0, 5.0]}
    for name, values in finals.items():
        (tmp_path / name).mkdir()
        rows = ["seed,env_steps,test_return_mean"] + [f"{s},{step},{v * step / 100}" for s, v in enumerate(values)
                                                       for step in (50, 100)]
        (tmp_path / name / "metrics.csv").write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--aggregate",
                                 "--out", str(tmp_path / "curves")])
    assert result.exit_code == 0, result.output
    # IQM: the middle two of four seeds (2, 3 and 0, 0); a's seeds beat b's 0s, never its 5
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.split()[1:2] in (["a"], ["b"])}
    assert "2.500" in lines["a"] and "0.50" in lines["a"]
    assert "0.000" in lines["b"] and "0.75" in lines["b"]


@pytest.mark.parametrize("setting", ["dir", "off"])
def test_the_command_keeps_compiled_programs_where_told(tmp_path, setting):
    """``LICA_COMPILATION_CACHE`` names the directory of JAX's persistent cache, or turns it off."""
    import os
    import subprocess
    import sys

    where = str(tmp_path / "xla") if setting == "dir" else "off"
    code = ("from lica.cli import use_compilation_cache; use_compilation_cache(); import jax; "
            "print(jax.config.jax_compilation_cache_dir)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**env, "LICA_COMPILATION_CACHE": where})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == (where if setting == "dir" else "None")
