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
    with tmp.open("wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


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
        if not self.config_file.exists():
            raise RunError(f"'{self.path}' is not a run directory (no config.yaml); train one with 'lica train'")
        return yaml.safe_load(self.config_file.read_text())

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

    def save_checkpoint(self, state, meta: dict):
        """The state's leaves as one uncompressed ``.npz``, written array by array: a replay
        buffer of gigabytes is never serialized into one more copy in memory."""
        atomic_write(self.checkpoint_file, lambda f: np.savez(f, *jax.tree.leaves(state)))
        atomic_write(self.meta_file, json.dumps(meta))

    def load_checkpoint(self, template):
        """Restore a state shaped like ``template`` (arrays or ``jax.eval_shape`` structs); a
        missing or corrupt file is a RunError. Leaves move to the device one at a time, so a
        resumed replay buffer is never held twice."""
        if not self.checkpoint_file.exists() or not self.meta_file.exists():
            raise RunError(f"no checkpoint in '{self.path}' to resume; start again with --overwrite")
        expected, treedef = jax.tree.flatten(template)
        try:
            meta = json.loads(self.meta_file.read_text())
            with np.load(self.checkpoint_file) as saved:
                if len(saved.files) != len(expected):
                    raise CheckpointMismatch
                leaves = []
                for i, want in enumerate(expected):
                    leaf = saved[f"arr_{i}"]
                    if leaf.shape != want.shape or leaf.dtype != want.dtype:
                        raise CheckpointMismatch
                    leaves.append(jax.device_put(leaf))
        except CheckpointMismatch:
            raise RunError(f"checkpoint in '{self.path}' does not match its config; "
                           "start again with --overwrite") from None
        except Exception as e:  # zip, npy and json errors all mean the same to the user
            raise RunError(f"checkpoint in '{self.path}' is corrupt ({type(e).__name__}); "
                           "start again with --overwrite") from None
        return jax.tree.unflatten(treedef, leaves), meta


def seed_rows(config, ts, metrics, wall_s) -> list[dict]:
    """One metrics.csv row per seed from a chunk's vmapped metrics, leaving out seeds that
    had already reached the budget and so ran no update in this chunk. ``train_episodes`` (and,
    where battles are won, ``train_wins``) count the training episodes that ended in the chunk,
    so that rare wins can be summed over a run; where none ended (segments longer than the
    chunk), the row has no ``train_*`` means."""
    metrics = dict(jax.device_get(metrics))
    ran = metrics.pop("chunk_updates", None)
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
            if row["train_episodes"] == 0:  # no training episode ended in the chunk: no means
                row = {k: v for k, v in row.items() if not k.startswith("train_") or k == "train_episodes"}
            elif "train_win_rate" in row:  # a mean over the chunk's training episodes
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


class TensorBoard:
    """One event writer per seed, so TensorBoard overlays seeds as separate runs."""

    def __init__(self, path: Path, config):
        from tensorboardX import SummaryWriter

        self.writers = {config.seed + i: SummaryWriter(str(path / "tb" / f"seed_{config.seed + i}"))
                        for i in range(config.seeds)}

    def write(self, rows: list[dict]):
        for row in rows:  # a seed that had finished has no row
            writer = self.writers[row["seed"]]
            for key, value in row.items():
                if key not in ("seed", "env_steps"):
                    writer.add_scalar(key, value, row["env_steps"])
            writer.flush()

    def close(self):
        for w in self.writers.values():
            w.close()


def train_run(config, run_dir: RunDir, resume: bool = False, progress=None):
    """Train ``config`` into ``run_dir`` (created by the caller), evaluating every ``eval_interval``.

    ``progress(done_steps, total_steps, rows)`` is called after each chunk. Returns each seed's
    last evaluation row.
    """
    from lica.train import make_train

    _, init, chunk, evaluate = make_train(config)
    if resume:  # shapes only: a fresh state would hold a second replay buffer
        state, meta = run_dir.load_checkpoint(jax.eval_shape(init))
        rows = run_dir.read_metrics()[: meta["rows"]]
    else:
        state = init()
        run_dir.write_config(config)
        meta = {"wall_s": 0.0, "rows": 0}
        rows = seed_rows(config, state, evaluate(state), 0.0)  # the untrained policy, at step 0
        run_dir.write_metrics(rows)
    board = TensorBoard(run_dir.path, config)
    try:
        start = time.perf_counter() - meta["wall_s"]
        while int(state.env_steps.min()) < config.env_steps:
            state, metrics = jax.block_until_ready(chunk(state))  # dispatch is asynchronous
            last = seed_rows(config, state, metrics, time.perf_counter() - start)
            check_finite(last)
            rows += last
            run_dir.write_metrics(rows)
            board.write(last)
            meta = {"wall_s": last[0]["wall_s"], "rows": len(rows)}
            run_dir.save_checkpoint(state, meta)
            if progress:
                progress(int(state.env_steps.min()), config.env_steps, last)
    finally:
        board.close()
    return list({row["seed"]: row for row in rows}.values())  # each seed's last evaluation
