"""Where a run's evaluation rows go besides ``metrics.csv`` (which is always written: resuming,
plots and reports read it): TensorBoard event files and Weights & Biases.

Each logger takes the rows of one evaluation (``write``), one row per seed, and shows seeds as
separate runs grouped under the run directory's name, stepped by env steps.
"""

import json
import os
import uuid
from pathlib import Path

from lica.config import ConfigError

NAMES = ("csv", "tensorboard", "wandb")  # csv: metrics.csv alone


def scalars(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("seed", "env_steps")}


class TensorBoard:
    """One event writer per seed, so TensorBoard overlays seeds as separate runs."""

    def __init__(self, path: Path, config):
        from tensorboardX import SummaryWriter

        self.writers = {config.seed + i: SummaryWriter(str(path / "tb" / f"seed_{config.seed + i}"))
                        for i in range(config.seeds)}

    def write(self, rows: list[dict]):
        for row in rows:  # a seed that had finished has no row
            writer = self.writers[row["seed"]]
            for key, value in scalars(row).items():
                writer.add_scalar(key, value, row["env_steps"])
            writer.flush()

    def close(self):
        for w in self.writers.values():
            w.close()


class WandB:
    """One W&B run per seed, grouped by the run directory's name, with the resolved config.

    W&B's own environment variables apply (``WANDB_PROJECT``, default ``lica-marl``;
    ``WANDB_MODE=offline`` keeps everything under ``<run>/wandb``). The W&B run ids are kept in
    ``<run>/wandb/ids.json``, so that a resumed run continues the same W&B runs.
    """

    def __init__(self, path: Path, config):
        import wandb

        folder = path / "wandb"
        folder.mkdir(exist_ok=True)
        ids_file = folder / "ids.json"
        ids = json.loads(ids_file.read_text()) if ids_file.exists() else {}
        self.runs = {}
        for i in range(config.seeds):
            seed = config.seed + i
            ids.setdefault(str(seed), uuid.uuid4().hex[:12])
            self.runs[seed] = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "lica-marl"), group=path.name, name=f"{path.name}/seed_{seed}",
                id=ids[str(seed)], resume="allow", dir=str(path), config={**config.model_dump(), "seed": seed},
                reinit="create_new")
        ids_file.write_text(json.dumps(ids))

    def write(self, rows: list[dict]):
        for row in rows:
            self.runs[row["seed"]].log(scalars(row), step=row["env_steps"])

    def close(self):
        for run in self.runs.values():
            run.finish()


LOGGERS = {"tensorboard": TensorBoard, "wandb": WandB}


def check(names):
    """A ConfigError for an unknown logger, or one whose package is missing, before a run starts."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ConfigError(f"unknown logger '{unknown[0]}'; choose from: {', '.join(NAMES)}")
    if "wandb" in names:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("--logger wandb needs wandb: pip install 'lica-marl[wandb]'") from None


class Loggers:
    """The loggers named in ``names`` (``NAMES``), written and closed together."""

    def __init__(self, names, path: Path, config):
        check(names)
        self.loggers = [LOGGERS[n](path, config) for n in dict.fromkeys(names) if n in LOGGERS]

    def write(self, rows: list[dict]):
        for logger in self.loggers:
            logger.write(rows)

    def close(self):
        for logger in self.loggers:
            logger.close()
