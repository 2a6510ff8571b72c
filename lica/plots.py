"""Learning curves from run directories: aggregation over seeds and drawing (PNG and PDF).

A curve is any set of run directories (every ``metrics.csv`` under a path). Seeds are aligned
by evaluation index, because a seed's env-step count at its k-th evaluation depends on its
episode lengths: point k's x is the mean over seeds of their x at evaluation k, and its value
is either the median with 1st and 3rd quartiles (``band="median"``, Sec. 4.2) or the mean with
one standard deviation either side (``band="mean"``, Sec. 4.1 and Fig. 5) over the seeds that
reached evaluation k.
"""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lica.run import RunDir

BANDS = ("median", "mean")
X_LABELS = {"env_steps": "environment steps", "updates": "training iteration"}


@dataclass
class Curve:
    x: np.ndarray
    center: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int  # seeds at the first point; 0 for a reference curve (the paper's), drawn dashed


def find_runs(path) -> list[Path]:
    """``path`` itself if it is a run directory, else every run directory below it."""
    path = Path(path)
    if (path / "metrics.csv").exists():
        return [path]
    return sorted(p.parent for p in path.rglob("metrics.csv"))


def metric_value(row: dict, metric: str) -> float | None:
    """A column of ``row``, or the ratio ``a/b`` of two columns; None where it is missing."""
    num, _, den = metric.partition("/")
    if num not in row or (den and den not in row):
        return None
    return row[num] / row[den] if den else row[num]


def band_stats(values, band: str) -> tuple[float, float, float]:
    """(center, low, high) of ``values``: median and quartiles, or mean and mean -/+ std."""
    values = np.asarray(values, dtype=float)
    if band == "median":
        low, center, high = np.percentile(values, [25, 50, 75])
        return float(center), float(low), float(high)
    if band == "mean":
        mean, std = values.mean(), values.std()
        return float(mean), float(mean - std), float(mean + std)
    raise ValueError(f"unknown band '{band}'; choose one of: {', '.join(BANDS)}")


def seed_series(runs, metric: str, x: str) -> list[list[tuple[float, float]]]:
    """Per (run, seed): its (x, value) points in evaluation order, rows lacking the metric left out."""
    series = defaultdict(list)
    for run in runs:
        for row in RunDir(run).read_metrics():
            value = metric_value(row, metric)
            if value is not None:
                series[run, row["seed"]].append((row[x], value))
    return [sorted(points) for points in series.values()]


def aggregate(series: list[list[tuple[float, float]]], band: str) -> Curve:
    """One curve from per-seed series, aligned by evaluation index (see the module docstring)."""
    if not series:
        raise ValueError("no metrics to plot")
    points = []
    for k in range(max(len(s) for s in series)):
        at_k = [s[k] for s in series if len(s) > k]
        points.append((np.mean([p[0] for p in at_k]), *band_stats([p[1] for p in at_k], band)))
    x, center, low, high = map(np.array, zip(*points))
    return Curve(x, center, low, high, seeds=len(series))


def default_metric(paths) -> str:
    """``test_win_rate`` where the first run has it (SMAC), else ``test_return_mean``."""
    rows = RunDir(find_runs(paths[0])[0]).read_metrics()
    return "test_win_rate" if rows and "test_win_rate" in rows[0] else "test_return_mean"


def load_curve(paths, metric: str, x: str = "env_steps", band: str = "median") -> Curve:
    """The curve of ``metric`` over every run under ``paths``."""
    if x not in X_LABELS:
        raise ValueError(f"unknown x axis '{x}'; choose one of: {', '.join(X_LABELS)}")
    runs = [run for path in paths for run in find_runs(path)]
    series = seed_series(runs, metric, x)
    if not series:
        raise ValueError(f"no '{metric}' values in {', '.join(map(str, paths))}")
    return aggregate(series, band)


# A legend fits inside the axes without hiding the curves up to this many entries of this many
# characters; a larger one goes beside the axes.
MAX_LEGEND_INSIDE, MAX_LABEL_INSIDE = 4, 40


def draw(panels: list[tuple[str, str, dict[str, Curve]]], stem, xlabel: str, suptitle: str = "") -> list[Path]:
    """Draw ``(title, ylabel, {label: curve})`` panels side by side to ``stem``.png and .pdf."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(label for _, _, curves in panels for label in curves))
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}  # one color per label in every panel
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    beside = []  # legends drawn beside their axes
    for ax, (title, ylabel, curves) in zip(axes[0], panels):
        for label, curve in curves.items():
            if curve.seeds == 0:
                ax.plot(curve.x, curve.center, "--o", label=label, color="black", markersize=3)
                continue
            ax.plot(curve.x, curve.center, label=label, color=colors[label])
            ax.fill_between(curve.x, curve.low, curve.high, color=colors[label], alpha=0.2, linewidth=0)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
        if curves:  # beside the axes once it would hide the curves
            large = len(curves) > MAX_LEGEND_INSIDE or max(map(len, curves)) > MAX_LABEL_INSIDE
            outside = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)} if large else {}
            legend = ax.legend(fontsize="small", **outside)
            # Left out of tight_layout, which would shrink the axes to nothing to make room for
            # it; the saved image widens to hold it instead.
            legend.set_in_layout(not large)
            beside.extend([legend] if large else [])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight", bbox_extra_artists=beside)
    plt.close(fig)
    return paths
