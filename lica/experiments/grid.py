"""Run a figure's grid of units, on this machine or as Ray tasks, resuming what is unfinished.

A ``Task`` is one unit with one seed group: ``algo`` on ``env`` for seeds ``seed ..
seed + seeds - 1``, vmapped in one process. It writes its run directory
``OUT/<figure>/<env>/<label>/seeds_<first>-<last>/`` (``lica.run``'s layout) and is finished
when every seed's last evaluation reached the budget. Running a grid again skips finished tasks,
resumes started ones from their checkpoint (a larger budget continues them) and never deletes a
finished result; a run directory trained with other settings is an error.

Both backends call the same ``run_task``; with Ray each task is a remote call, so OUT must be a
filesystem every node sees at the same path.
"""

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from lica.config import resolve
from lica.experiments import figures
from lica.experiments.figures import ExperimentError
from lica.run import RunDir, train_run


@dataclass(frozen=True)
class Task:
    figure: str
    unit: figures.Unit
    seed: int
    seeds: int
    env_steps: int | None
    sets: tuple[str, ...]  # the budget's overrides, under the unit's own
    runner: str = "train"

    def config(self):
        sets = [*self.sets, *self.unit.sets]
        return resolve(self.unit.env, self.unit.algo, sets=sets, seeds=self.seeds, seed=self.seed,
                       env_steps=self.env_steps)

    def path(self, out) -> Path:
        return unit_dir(out, self.figure, self.unit) / f"seeds_{self.seed}-{self.seed + self.seeds - 1}"

    def __str__(self):
        return f"{self.unit.env} {self.unit.label} seeds {self.seed}-{self.seed + self.seeds - 1}"


def unit_dir(out, figure: str, unit: figures.Unit) -> Path:
    return Path(out) / figure / unit.env.replace(":", "_") / unit.name


def tasks(figure: figures.Figure, budget: str, group_size: int | None = None) -> list[Task]:
    """Every task of ``figure`` at ``budget``; each unit's seeds split into groups of ``group_size``
    (default: all seeds in one group)."""
    out = []
    for unit in figure.units:
        b = figures.budget(figure, budget, unit.env)
        size = group_size or b.seeds
        for first in range(0, b.seeds, size):
            out.append(Task(figure.name, unit, first, min(size, b.seeds - first), b.env_steps, b.sets, figure.runner))
    return out


# Settings that change how fast a run goes, not what it learns: when it checkpoints, and how
# LICA's critic is batched (chunked and dense agree to 1.3e-7 on 2s3z). A run may resume under
# other values of these, including a run started before the setting existed.
RESULT_NEUTRAL = ("checkpoint_interval", "critic_chunk")


def comparable(values: dict) -> dict:
    """Config values as config.yaml stores them, without the budget (which may grow on resume)."""
    values = yaml.safe_load(yaml.safe_dump(values))
    values.pop("env_steps")
    for key in RESULT_NEUTRAL:
        values.pop(key, None)
    return values


def status(run_dir: RunDir, config) -> str:
    """``"done"``, ``"resume"`` (a checkpoint to continue) or ``"new"`` (nothing worth keeping)."""
    if not run_dir.config_file.exists():
        return "new"
    if comparable(run_dir.read_config()) != comparable(config.model_dump()):
        raise ExperimentError(f"'{run_dir.path}' was trained with other settings; reproduce into another --out")
    last = {}
    for row in run_dir.read_metrics():
        last[row["seed"]] = max(last.get(row["seed"], 0), row["env_steps"])
    if len(last) == config.seeds and min(last.values()) >= config.env_steps:
        return "done"
    return "resume" if run_dir.meta_file.exists() else "new"


@contextmanager
def claim(path: Path):
    """Yield whether this process holds the unit at ``path`` for itself: an exclusive advisory
    lock (``flock``) on a file beside the unit's directory, released when the block ends or the
    process dies. Two ``lica reproduce`` processes (or Ray workers on one machine) writing into
    one output directory thus never train the same unit at once. (``flock`` over NFS depends on
    the mount; each node's own disk, or a claim per node, is safe.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# What ``run_task`` says of a unit another process holds (which may only be checking it is done).
SKIPPED = "skipped: another process has claimed it (to train it or to see that it is done)"


def run_task(task: Task, out, log=print) -> str:
    """Bring ``task``'s run directory under ``out`` to its budget, unless another process is
    doing so; returns what it did."""
    with claim(Path(task.path(out))) as mine:
        return _run_claimed(task, out, log) if mine else SKIPPED


def _run_claimed(task: Task, out, log) -> str:
    from lica.experiments import junction

    config = task.config()
    run_dir = RunDir(task.path(out))
    state = status(run_dir, config)
    if state == "done":
        return "already done"
    if state == "new":
        run_dir.prepare(overwrite=True)  # an unstarted or uncheckpointed attempt: nothing to keep

    def progress(done, total, rows):
        log(f"  {task}: {done:,}/{total:,} env steps")

    runner = junction.train_unit if task.runner == "junction" else train_run
    runner(config, run_dir, resume=state == "resume", progress=progress)
    return "resumed" if state == "resume" else "trained"


def run_local(grid: list[Task], out, log=print):
    """Every task in turn, in this process."""
    for i, task in enumerate(grid, 1):
        log(f"[{i}/{len(grid)}] {task}")
        log(f"[{i}/{len(grid)}] {task}: {run_task(task, out, log)}")


def run_ray(grid: list[Task], out, address: str, log=print):
    """Every task as a Ray task on the cluster at ``address`` (``auto``: the one this machine
    belongs to; ``local``: a new instance on this machine), one CPU each, and one GPU each where
    the cluster has GPUs. Uses the Ray instance this process already joined, if any."""
    try:
        import ray
    except ImportError:
        raise ExperimentError("--ray needs the ray package: pip install 'lica-marl[ray]'") from None
    if not ray.is_initialized():
        if address == "local":  # Ray's workers run at nice 15 unless told: starved on a busy machine
            os.environ.setdefault("RAY_worker_niceness", "0")
        try:
            ray.init(address=address)
        except Exception as e:  # ConnectionError, or a stale cluster whose raylet died meanwhile
            raise ExperimentError(f"no Ray cluster at '{address}' ({type(e).__name__}: {e}); start one with "
                                  "'ray start --head' or use --ray local") from None
    gpus = 1 if ray.cluster_resources().get("GPU", 0) else 0
    remote = ray.remote(num_cpus=1, num_gpus=gpus)(run_task)
    pending = {remote.remote(task, str(Path(out).resolve())): task for task in grid}
    log(f"{len(pending)} tasks submitted to Ray")
    while pending:
        (ref,), _ = ray.wait(list(pending))
        task = pending.pop(ref)
        try:
            log(f"{task}: {ray.get(ref)}")
        except ray.exceptions.RayTaskError as e:
            raise ExperimentError(f"{task} failed: {e.cause}") from None
