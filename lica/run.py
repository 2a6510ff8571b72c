"""What a run leaves behind, and the host loop that fills it (DESIGN.md).

A run directory holds ``config.yaml`` (the resolved config), ``metrics.csv`` (one row per seed
per evaluation), TensorBoard events under ``tb/seed_<k>``, and ``checkpoint.npz`` with
``checkpoint.json``, from which ``--resume`` continues a killed run to the same result. Every file
is written to a temporary name and renamed, so a crash never leaves half a file, and nothing
already written is replaced unless the user asked for ``--overwrite``.
"""

import csv
import io
import json
import math
import os
import shutil
import time
from pathlib import Path

import jax
import numpy as np
import yaml

from lica import interrupts
from lica.loggers import Loggers

# Leading metrics.csv columns; the rest follow in alphabetical order.
FIRST_COLUMNS = ["seed", "env_steps", "updates", "wall_s", "test_return_mean", "test_win_rate",
                 "test_episode_length", "policy_entropy", "critic_loss"]

INT_COLUMNS = ("seed", "env_steps", "updates", "train_episodes", "train_wins")


class RunError(RuntimeError):
    """A run cannot start or continue; the message says why and what to do."""


class CheckpointMismatch(Exception):
    """A readable checkpoint whose arrays are not those of the run's state."""


def atomic_write(path: Path, data):
    """Write ``data`` (text, bytes, or a callable that writes to a binary file) to a temporary
    name, then rename it over ``path``: readers see the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException as e:  # a full disk, a lost mount, an interrupt: the old file stays as it was
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise RunError(f"could not write '{path}' ({e.strerror or e}); the previous version is kept; "
                           "free space and continue with --resume") from None
        raise


class RunDir:
    def __init__(self, path):
        self.path = Path(path)
        self.config_file = self.path / "config.yaml"
        self.metrics_file = self.path / "metrics.csv"
        self.checkpoint_file = self.path / "checkpoint.npz"
        self.meta_file = self.path / "checkpoint.json"

    def prepare(self, overwrite: bool):
        """Create a fresh run directory; an existing non-empty one needs ``overwrite``."""
        if self.path.exists() and any(self.path.iterdir()):
            if not overwrite:
                raise RunError(f"run directory '{self.path}' already exists; pass --resume to continue it "
                               "or --overwrite to replace it")
            shutil.rmtree(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create run directory '{self.path}' ({e.strerror}); choose another --out") from None

    def remove_if_empty(self):
        """Remove the run directory if nothing was written into it."""
        if self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()

    def write_config(self, config):
        atomic_write(self.config_file, yaml.safe_dump(config.model_dump(), sort_keys=False))

    def read_config(self) -> dict:
        """The saved config, keys renamed since it was written under their new names."""
        from lica import algos
        from lica.config import upgrade

        if not self.config_file.exists():
            raise RunError(f"'{self.path}' is not a run directory (no config.yaml); train one with 'lica train'")
        values = yaml.safe_load(self.config_file.read_text())
        return upgrade(algos.get(values.get("algo", "lica")).Config, values)

    def read_metrics(self) -> list[dict]:
        """The rows of metrics.csv, typed as they were written (empty cells left out)."""
        if not self.metrics_file.exists():
            return []
        with self.metrics_file.open() as f:
            return [{k: int(v) if k in INT_COLUMNS else float(v) for k, v in row.items() if v != ""}
                    for row in csv.DictReader(f)]

    def write_metrics(self, rows: list[dict]):
        keys = set().union(*rows)  # the step-0 rows have test metrics only
        columns = [c for c in FIRST_COLUMNS if c in keys] + sorted(keys - set(FIRST_COLUMNS))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.metrics_file, buf.getvalue())

    def save_checkpoint(self, state, meta: dict, interval=None):
        """The state's leaves, then those of ``interval`` (an evaluation interval in progress,
        ``lica.trainer.Interval``) if given, as one uncompressed ``.npz`` written array by array
        (a replay buffer of gigabytes is never serialized into one more copy in memory). The meta
        goes inside the same file, so that a kill can never pair a state with another's meta;
        ``checkpoint.json`` repeats it for people and for the grid runner."""
        meta = {**meta, "interval": interval is not None}
        leaves = jax.tree.leaves(state) + (jax.tree.leaves(interval) if interval is not None else [])
        atomic_write(self.checkpoint_file, lambda f: np.savez(f, *leaves, meta=np.array(json.dumps(meta))))
        atomic_write(self.meta_file, json.dumps(meta))

    def _meta(self, saved) -> dict:
        # Checkpoints written before the meta moved into the file have it beside it only.
        return json.loads(str(saved["meta"]) if "meta" in saved.files else self.meta_file.read_text())

    def checkpoint_meta(self) -> dict | None:
        """The last checkpoint's meta (``env_steps``: the least over seeds, ``rows``, ``wall_s``,
        ``interval``), or None where there is no readable checkpoint."""
        try:
            with np.load(self.checkpoint_file) as saved:
                return self._meta(saved)
        except Exception:  # missing or corrupt: no checkpoint to speak of
            return None

    def load_checkpoint(self, template, interval_template=None):
        """``(state, interval, meta)``: the state shaped like ``template`` (arrays or
        ``jax.eval_shape`` structs), and the interval in progress where the checkpoint holds one
        and ``interval_template`` is given, else None. A missing or corrupt file is a RunError.
        Leaves move to the device one at a time, so a resumed replay buffer is never held twice."""
        if not self.checkpoint_file.exists() or not self.meta_file.exists():
            raise RunError(f"no checkpoint in '{self.path}' to resume; start again with --overwrite")
        try:
            with np.load(self.checkpoint_file) as saved:
                stored = [f for f in saved.files if f != "meta"]
                meta = self._meta(saved)
                templates = [template]
                if meta.get("interval") and interval_template is not None:
                    templates.append(interval_template)
                expected, treedef = jax.tree.flatten(templates)
                unread = meta.get("interval") and interval_template is None  # ``lica eval`` wants the state only
                if len(stored) != len(expected) and not (unread and len(stored) > len(expected)):
                    raise CheckpointMismatch
                leaves = [_restore(saved[f"arr_{i}"], want) for i, want in enumerate(expected)]
        except CheckpointMismatch:
            raise RunError(f"checkpoint in '{self.path}' does not match its config; "
                           "start again with --overwrite") from None
        except Exception as e:  # zip, npy and json errors all mean the same to the user
            raise RunError(f"checkpoint in '{self.path}' is corrupt ({type(e).__name__}); "
                           "start again with --overwrite") from None
        state, *interval = jax.tree.unflatten(treedef, leaves)
        return state, (interval[0] if interval else None), meta


def _restore(leaf, want):
    if leaf.shape != want.shape or leaf.dtype != want.dtype:
        raise CheckpointMismatch
    return jax.device_put(leaf)


def seed_rows(config, ts, metrics, wall_s) -> list[dict]:
    """One metrics.csv row per seed from an evaluation interval's vmapped metrics, leaving out
    seeds that had already reached the budget and so ran no update in it. ``train_episodes``
    (and, where battles are won, ``train_wins``) count the training episodes that ended in the
    interval, so that rare wins can be summed over a run; where none ended (segments longer than
    the interval), the row has no ``train_*`` means."""
    metrics = dict(jax.device_get(metrics))
    ran = metrics.pop("interval_updates", None)
    steps, updates = jax.device_get((ts.env_steps, ts.updates))
    rows = []
    for i in range(config.seeds):
        if ran is not None and ran[i] == 0:
            continue
        row = {"seed": config.seed + i, "env_steps": int(steps[i]), "updates": int(updates[i]),
               "wall_s": round(wall_s, 2)}
        row.update({k: float(v[i]) for k, v in metrics.items()})
        if "train_episodes" in row:
            row["train_episodes"] = round(row["train_episodes"])
            if row["train_episodes"] == 0:  # no training episode ended in the interval: no means
                row = {k: v for k, v in row.items() if not k.startswith("train_") or k == "train_episodes"}
            elif "train_win_rate" in row:  # a mean over the interval's training episodes
                row["train_wins"] = round(row["train_win_rate"] * row["train_episodes"])
        rows.append(row)
    return rows


def check_finite(rows: list[dict]):
    for row in rows:
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise RunError(f"training diverged: {bad[0]} is {row[bad[0]]} for seed {row['seed']} at env step "
                           f"{row['env_steps']}; lower the learning rates (e.g. --set lr_critic=...); "
                           "the last good checkpoint and metrics are kept")


# A checkpoint between two evaluations is written at the first ``checkpoint_interval`` point
# this many seconds after the last checkpoint, or ten times as long as the last one took to
# write if that is longer: a kill loses about a minute of training, and a run whose state holds
# replay buffers of gigabytes spends at most a tenth of its time writing them.
CHECKPOINT_SECONDS = 60.0
CHECKPOINT_SHARE = 0.1


class CheckpointClock:
    """Whether a checkpoint between evaluations is due (``CHECKPOINT_SECONDS``, ``CHECKPOINT_SHARE``)."""

    def __init__(self):
        self.saved_at, self.wait = time.perf_counter(), CHECKPOINT_SECONDS

    def due(self) -> bool:
        return time.perf_counter() - self.saved_at >= self.wait

    def write(self, save):
        """Call ``save()`` and time it."""
        began = time.perf_counter()
        save()
        self.saved_at = time.perf_counter()
        self.wait = max(CHECKPOINT_SECONDS, (self.saved_at - began) / CHECKPOINT_SHARE)


def train_run(config, run_dir: RunDir, resume: bool = False, progress=None, env=None, loggers=("tensorboard",)):
    """Train ``config`` into ``run_dir`` (created by the caller), evaluating every
    ``eval_interval`` and checkpointing in between (``CHECKPOINT_SECONDS``).

    ``env``: the environment object, where ``config.env`` only names it (``lica.trainer``).
    ``progress(done_steps, total_steps, rows)`` is called after each evaluation; its rows also
    go to ``loggers`` (``lica.loggers.NAMES``) besides ``metrics.csv``. Returns each
    seed's last evaluation row. An interrupt (KeyboardInterrupt, which the CLI makes of
    SIGTERM too) leaves the last checkpoint whole: every file is replaced atomically.
    """
    from lica.trainer import make_train

    program = make_train(config, env)
    state_shape = jax.eval_shape(program.init)
    check_memory(config, state_shape)
    board = Loggers(loggers, run_dir.path, config)
    if resume:  # shapes only: a fresh state would hold a second replay buffer
        state, interval, meta = run_dir.load_checkpoint(state_shape, jax.eval_shape(program.begin, state_shape))
        rows = run_dir.read_metrics()[: meta["rows"]]
        run_dir.write_config(config)  # a larger budget, keys under their current names
    else:
        state, interval = program.init(), None
        run_dir.write_config(config)
        meta = {"wall_s": 0.0}
        rows = seed_rows(config, state, program.evaluate(state), 0.0)  # the untrained policy, at step 0
        run_dir.write_metrics(rows)
        board.write(rows)
    start, clock = time.perf_counter() - meta["wall_s"], CheckpointClock()
    try:
        while int(state.env_steps.min()) < config.env_steps:
            interrupts.check()  # a stop request whose KeyboardInterrupt was swallowed
            interval = interval if interval is not None else program.begin(state)
            state, interval = jax.block_until_ready(program.advance(state, interval))  # dispatch is asynchronous
            if program.reached(state, interval):
                last = evaluation_rows(config, program, state, interval, start)
                rows += last
                run_dir.write_metrics(rows)
                board.write(last)
                interval = None
            elif not clock.due():
                continue
            meta = {"wall_s": round(time.perf_counter() - start, 2), "rows": len(rows),
                    "env_steps": int(state.env_steps.min())}
            clock.write(lambda: run_dir.save_checkpoint(state, meta, interval))
            if interval is None and progress:
                progress(int(state.env_steps.min()), config.env_steps, last)
    finally:
        board.close()
    return list({row["seed"]: row for row in rows}.values())  # each seed's last evaluation


def available_memory() -> int | None:
    """Bytes the default device can still allocate: on a CPU, the host's MemAvailable (Linux);
    on an accelerator, its limit less what is in use; None where neither is known."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None


def check_memory(config, state_shape, available: int | None = None):
    """A RunError, before anything is allocated, when the training state alone (networks,
    optimizers and replay buffers of every seed) is larger than the memory available: XLA would
    fail later with an INTERNAL out-of-memory error naming neither cause nor fix (QMIX on MMM2,
    3 seeds: 35 GB of replay buffers)."""
    need = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state_shape))
    available = available_memory() if available is None else available
    if available is not None and need > available:
        raise RunError(f"the training state of {config.seeds} seed(s) needs {_size(need)} and {_size(available)} "
                       "are available; train fewer seeds (--seeds), shrink the replay buffer where there is "
                       "one (--set buffer_size=N), or use a larger machine")


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def evaluation_rows(config, program, state, interval, start) -> list[dict]:
    """The metrics.csv rows of a finished evaluation interval, timed from ``start``; a RunError
    if training diverged."""
    metrics = jax.block_until_ready(program.conclude(state, interval))
    rows = seed_rows(config, state, metrics, time.perf_counter() - start)
    check_finite(rows)
    return rows
