"""The Python entry points: ``lica.train`` and ``lica.evaluate``, what ``lica train`` and
``lica eval`` do, for notebooks and scripts.

    import lica
    run = lica.train("mpe:spread-3", seeds=2, env_steps=50_000, lr_policy=1e-3)
    run.metrics            # metrics.csv as a pandas DataFrame
    lica.evaluate(run, episodes=64)
"""

import time
from pathlib import Path


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


def train(env, algo: str = "lica", out=None, *, resume: bool = False, overwrite: bool = False,
          progress=None, **config) -> Run:
    """Train ``algo`` on ``env`` into ``out`` and return the ``Run``.

    ``env`` is a name (``"mpe:spread-3"``, ``"mymodule:make"``) or an environment object that
    speaks ``lica.envs.base``'s protocol. Any config key is a keyword (``seeds=3``,
    ``env_steps=100_000``, ``env_args={"max_steps": 25}``). ``out`` defaults to
    ``runs/<env>-<algo>-<time>``; ``resume=True`` continues the run in ``out`` (pass the same
    environment object again if you gave one). ``progress(done, total, rows)`` is called after
    each evaluation. Errors are the CLI's: ``ValueError`` (a config or name) or ``RuntimeError``.
    """
    from lica import algos
    from lica.config import resolve, validate
    from lica.run import RunDir, train_run

    env_object = None if isinstance(env, str) else env
    name = env if env_object is None else f"object:{type(env).__name__}"
    if resume:
        if out is None:
            raise ValueError("resume=True needs out=RUN_DIR")
        cfg = validate(algos.get(algo).Config, {**RunDir(out).read_config(), **config})
    else:
        cfg = resolve(name, algo, env_object=env_object, **config)
    out = Path(out or Path("runs") / f"{name.replace(':', '_')}-{algo}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = RunDir(out)
    if not resume:
        run_dir.prepare(overwrite)
    train_run(cfg, run_dir, resume=resume, progress=progress, env=env_object)
    return Run(out)


def evaluate(run, episodes: int = 32):
    """Greedy test metrics of ``run``'s last checkpoint (a ``Run`` or a path), one row per seed,
    as a pandas DataFrame (``lica eval``)."""
    import pandas as pd

    from lica.evaluation import evaluate_run

    return pd.DataFrame(evaluate_run(run.path if isinstance(run, Run) else run, episodes))
