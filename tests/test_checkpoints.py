"""Bounded loss: checkpoints between evaluations, interrupts (Ctrl-C, SIGTERM) and failed writes.

A run is cheap here (the traffic junction: 64 one-step episodes per update, an evaluation every
640 env steps); ``checkpoint_interval=128`` gives the host a chance to checkpoint every 2 updates,
and ``CHECKPOINT_SECONDS = 0`` (with no limit on the time spent writing) makes it take every chance.
"""

import errno
import gc
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import FAST, read_rows, runner, train

from lica import run as run_lib
from lica.cli import app
from lica.run import RunDir

BUDGET = ["--env-steps", "1920"]  # 3 evaluations after the one at step 0
SPLIT = ["--set", "checkpoint_interval=128"]


def without_wall(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


@pytest.fixture
def straight(tmp_path):
    """The metrics of a run that only checkpoints at its evaluations."""
    run = tmp_path / "straight"
    assert train(*FAST, *BUDGET, "--set", "checkpoint_interval=null", "--out", str(run)).exit_code == 0
    return without_wall(read_rows(run))


@pytest.fixture
def every_chance(monkeypatch):
    """Checkpoint at every ``checkpoint_interval`` point; returns the env steps of each
    checkpoint written between evaluations."""
    monkeypatch.setattr(run_lib, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(run_lib, "CHECKPOINT_SHARE", float("inf"))  # however long a write takes
    between = []
    save = RunDir.save_checkpoint

    def counting(self, state, meta, interval=None):
        save(self, state, meta, interval)
        if interval is not None:
            between.append(int(state.env_steps.min()))

    monkeypatch.setattr(RunDir, "save_checkpoint", counting)
    return between


def test_checkpoints_between_evaluations_leave_the_metrics_unchanged(tmp_path, straight, every_chance):
    run = tmp_path / "split"
    assert train(*FAST, *BUDGET, *SPLIT, "--out", str(run)).exit_code == 0
    assert every_chance == [s for s in range(128, 1920, 128) if s % 640]  # every point but the evaluations
    assert without_wall(read_rows(run)) == straight


def interrupt_after(saves: int, between: list, monkeypatch):
    """Interrupt the run right after its ``saves``-th checkpoint between evaluations."""
    save = RunDir.save_checkpoint

    def saving_then_interrupting(self, state, meta, interval=None):
        save(self, state, meta, interval)
        if len(between) == saves:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "save_checkpoint", saving_then_interrupting)


def test_a_run_interrupted_between_evaluations_resumes_to_the_same_metrics(tmp_path, straight, every_chance,
                                                                           monkeypatch):
    run = tmp_path / "run"
    interrupt_after(6, every_chance, monkeypatch)
    result = train(*FAST, *BUDGET, *SPLIT, "--out", str(run))
    assert result.exit_code == 130
    assert f"interrupted at env step 896; continue with --resume --out {run}" in result.output
    assert len(read_rows(run)) == 2 * 2  # step 0 and the evaluation at 640
    monkeypatch.undo()
    assert runner.invoke(app, ["eval", str(run)]).exit_code == 0  # reads the state, not the interval
    result = train(*FAST, *BUDGET, "--out", str(run), "--resume")
    assert result.exit_code == 0, result.output
    assert without_wall(read_rows(run)) == straight


@pytest.mark.parametrize("budget", [384, 1920])
def test_a_run_interrupted_between_evaluations_resumes_to_a_new_budget(tmp_path, every_chance, monkeypatch, budget):
    """Started with a budget of 640 and interrupted at 256, resumed to a smaller or a larger
    budget: the uninterrupted run at that budget's metrics."""
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert train(*FAST, "--env-steps", str(budget), "--out", str(reference)).exit_code == 0
    interrupt_after(2, every_chance, monkeypatch)
    assert train(*FAST, "--env-steps", "640", *SPLIT, "--out", str(run)).exit_code == 130
    monkeypatch.undo()
    assert train(*FAST, "--env-steps", str(budget), "--out", str(run), "--resume").exit_code == 0
    assert without_wall(read_rows(run)) == without_wall(read_rows(reference))


def test_sigterm_ends_a_run_with_one_line_and_a_checkpoint_to_resume(tmp_path):
    run = tmp_path / "run"
    lica = Path(sys.executable).with_name("lica")
    proc = subprocess.Popen([str(lica), "train", *FAST, "--env-steps", "100000000", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint.npz").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted at env step ")
    assert f"continue with --resume --out {run}" in err
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 0, result.output


def test_sigterm_while_xla_compiles_still_ends_with_exit_code_130(tmp_path):
    """XLA compiles in threads of its own; a process torn down under them once crashed (an
    LLVM error, exit 134 or 139). A StarCraft map compiles for a while: the signal comes 3 s in."""
    run = tmp_path / "run"
    lica = Path(sys.executable).with_name("lica")
    proc = subprocess.Popen([str(lica), "train", "--env", "smac:2s3z", "--seeds", "2", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "config.yaml").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted before the first checkpoint")


def test_a_sigterm_swallowed_by_a_garbage_collector_callback_still_stops_the_run(tmp_path):
    """The signal's KeyboardInterrupt raised inside JAX's gc callback was printed as "Exception
    ignored" and the run trained to its end (CI once timed out on the test above so). Here a gc
    callback calls the handler, as the signal would, once the command has installed it."""
    run, outside, fired = tmp_path / "run", signal.getsignal(signal.SIGTERM), []

    def sigterm_in_gc(phase, info):
        handler = signal.getsignal(signal.SIGTERM)
        if handler is not outside and not fired:
            fired.append(phase)
            handler(signal.SIGTERM, None)

    gc.callbacks.append(sigterm_in_gc)
    try:
        result = train(*FAST, "--env-steps", "6400", "--out", str(run))
    finally:
        gc.callbacks.remove(sigterm_in_gc)
    assert fired, "no garbage collection ran while training"
    assert result.exit_code == 130, result.output
    assert max(int(row["env_steps"]) for row in read_rows(run)) < 6400


def fail_with_a_full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failing", ["os.replace", "np.savez"])
def test_a_full_disk_keeps_the_last_checkpoint_and_metrics(tmp_path, straight, monkeypatch, failing):
    """Every write failing (``os.replace``: the metrics write is the first to fail), or only the
    checkpoint's (``np.savez``): one line, the last checkpoint untouched, nothing half-written,
    and a later ``--resume`` reaches the uninterrupted run's metrics."""
    run = tmp_path / "run"
    assert train(*FAST, "--env-steps", "640", "--out", str(run)).exit_code == 0
    checkpoint, metrics = (run / "checkpoint.npz").read_bytes(), (run / "metrics.csv").read_bytes()
    module, name = failing.split(".")
    monkeypatch.setattr(getattr(run_lib, module), name, fail_with_a_full_disk)
    result = train(*FAST, *BUDGET, "--out", str(run), "--resume")
    assert result.exit_code == 2
    assert "No space left on device" in result.output and "--resume" in result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert (run / "checkpoint.npz").read_bytes() == checkpoint
    assert (run / "metrics.csv").read_bytes().startswith(metrics)
    assert not list(run.glob("*.tmp"))
    monkeypatch.undo()
    assert train(*FAST, *BUDGET, "--out", str(run), "--resume").exit_code == 0
    assert without_wall(read_rows(run)) == straight


def test_a_slow_checkpoint_is_written_less_often(monkeypatch):
    """Between evaluations, at most ``CHECKPOINT_SHARE`` of the time goes to writing."""
    monkeypatch.setattr(run_lib, "CHECKPOINT_SECONDS", 0.01)
    clock = run_lib.CheckpointClock()
    time.sleep(0.02)
    assert clock.due()
    clock.write(lambda: time.sleep(0.1))
    assert 0.9 <= clock.wait <= 2.0 and not clock.due()
