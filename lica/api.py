"""The Python entry points: ``lica.train`` and ``lica.evaluate``, what ``lica train`` and
``lica eval`` do, for notebooks and scripts.

    import lica
    run = lica.train("mpe:spread-3", seeds=2, env_steps=50_000, lr_policy=1e-3)
    run.metrics            # metrics.csv as a pandas DataFrame
    lica.evaluate(run, episodes=64)
"""

import time
from pathlib import Path
from typing import NamedTuple


class Run:
    """A run directory written by ``lica train`` or ``lica.trainer``."""

    def __init__(self, path):
        from lica.run import RunDir

        self.path = Path(path)
        self._dir = RunDir(self.path)

    def __repr__(self):
        return f"Run('{self.path}')"

    @property
    def config(self) -> dict:
        """The resolved config (``config.yaml``)."""
        return self._dir.read_config()

    @property
    def metrics(self):
        """``metrics.csv`` as a pandas DataFrame: one row per seed per evaluation."""
        import pandas as pd

        return pd.DataFrame(self._dir.read_metrics())

    def final(self):
        """Each seed's last evaluation."""
        metrics = self.metrics
        return metrics.loc[metrics.groupby("seed")["env_steps"].idxmax()].reset_index(drop=True)


class Start(NamedTuple):
    """A run about to train: its resolved config, its prepared directory, the environment
    object (where the config only names it), and whether it continues a checkpoint."""

    config: object
    run_dir: object
    env_object: object
    resume: bool


def prepare(env=None, algo: str | None = None, out=None, *, resume: bool = False, overwrite: bool = False,
            file=None, sets=(), loggers=("tensorboard",), **config) -> Start:
    """Resolve the config and prepare the run directory, as ``lica train`` and ``lica.train`` do.

    A new run's config is the algorithm's defaults < presets < ``file`` (YAML) < ``sets``
    (``key=value``) < ``config`` keywords (``None`` values are left out); a resumed run's starts
    from its saved config instead, and its ``env`` and ``algo``, where not given, are the run's.
    A new run needs ``env``; ``algo`` defaults to LICA. Every check runs before the directory is
    created.
    """
    from lica import algos
    from lica import loggers as loggers_lib
    from lica.config import load_file, merge, parse_set, resolve, validate
    from lica.run import RunDir

    config = {k: v for k, v in config.items() if v is not None}
    loggers_lib.check(loggers)
    if resume and out is None:
        raise ValueError("resuming needs the run directory: --out RUN_DIR (out= in Python)")
    saved = RunDir(out).read_config() if resume else {}
    env = saved.get("env") if env is None else env
    algo = algo or saved.get("algo", "lica")
    if env is None:
        raise ValueError("no environment: name one with --env, e.g. --env mpe:spread-3 ('lica list' shows them)")
    env_object = None if isinstance(env, str) else env
    name = env if env_object is None else f"object:{type(env).__name__}"
    if resume:
        if (saved["env"], saved["algo"]) != (name, algo):
            raise ValueError(f"run '{out}' trained {saved['algo']} on {saved['env']}, not {algo} on {name}")
        overrides = merge(merge(load_file(file) if file else {}, parse_set(list(sets))), config)
        cfg = validate(algos.get(algo).Config, merge(saved, overrides))
    else:
        cfg = resolve(name, algo, file, sets, env_object=env_object, **config)
    out = Path(out or Path("runs") / f"{name.replace(':', '_')}-{algo}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = RunDir(out)
    if not resume:
        run_dir.prepare(overwrite)
    return Start(cfg, run_dir, env_object, resume)


def run(start: Start, progress=None, loggers=("tensorboard",)) -> "Run":
    """Train a prepared run; a new one that fails before writing anything leaves no directory."""
    from lica.run import train_run

    try:
        train_run(start.config, start.run_dir, resume=start.resume, progress=progress, env=start.env_object,
                  loggers=loggers)
    except (ValueError, RuntimeError):
        if not start.resume:
            start.run_dir.remove_if_empty()
        raise
    return Run(start.run_dir.path)


def train(env=None, algo: str | None = None, out=None, *, resume: bool = False, overwrite: bool = False,
          progress=None, loggers=("tensorboard",), **config) -> Run:
    """Train ``algo`` on ``env`` into ``out`` and return the ``Run``.

    ``env`` is a name (``"mpe:spread-3"``, ``"mymodule:make"``) or an environment object that
    speaks ``lica.envs.base``'s protocol. Any config key is a keyword (``seeds=3``,
    ``env_steps=100_000``, ``env_args={"max_steps": 25}``). ``out`` defaults to
    ``runs/<env>-<algo>-<time>``; ``algo`` defaults to LICA. ``resume=True`` continues the run in
    ``out`` (its environment and algorithm unless given; pass the same environment object again
    if you gave one), with any keywords over its saved config.
    ``progress(done, total, rows)`` is called after each evaluation; ``loggers`` name where rows
    go besides metrics.csv (``lica.loggers.NAMES``). Errors are the CLI's: ``ValueError`` (a
    config or name) or ``RuntimeError``.
    """
    start = prepare(env, algo, out, resume=resume, overwrite=overwrite, loggers=loggers, **config)
    return run(start, progress, loggers)


def evaluate(run, episodes: int = 32):
    """Greedy test metrics of ``run``'s last checkpoint (a ``Run`` or a path), one row per seed,
    as a pandas DataFrame (``lica eval``)."""
    import pandas as pd

    from lica.evaluation import evaluate_run

    return pd.DataFrame(evaluate_run(run.path if isinstance(run, Run) else run, episodes))
