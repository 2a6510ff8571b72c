"""Aggregate statistics over runs, as the field reports them (Agarwal et al., NeurIPS 2021, "Deep
RL at the Edge of the Statistical Precipice"; their ``rliable`` computes the same quantities).

* ``iqm``: the interquartile mean, the mean of the middle half of the scores (25% trimmed
  from each end); robust to outlying runs, less noisy than the median.
* ``stratified_bootstrap_ci``: a statistic's confidence interval from resampling the runs of
  each task with replacement, tasks kept apart (strata), percentile method.
* ``probability_of_improvement``: P(X > Y) averaged over tasks, where X and Y are the scores of
  a run of each algorithm on the task; ties count a half (the Mann-Whitney U statistic / n m).
"""

import numpy as np
from scipy import stats as scipy_stats


def iqm(scores) -> float:
    """The interquartile mean of all ``scores`` (any shape)."""
    return float(scipy_stats.trim_mean(np.ravel(np.asarray(scores, dtype=float)), proportiontocut=0.25))


def stratified_bootstrap_ci(tasks: list, statistic=iqm, reps: int = 2000, confidence: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``statistic`` over the scores of every task together, where
    ``tasks`` holds one array of run scores per task (or a single task)."""
    tasks = [np.asarray(t, dtype=float) for t in tasks]
    rng = np.random.default_rng(seed)
    samples = [statistic(np.concatenate([t[rng.integers(0, len(t), len(t))] for t in tasks])) for _ in range(reps)]
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return statistic(np.concatenate(tasks)), float(low), float(high)


def probability_of_improvement(x_tasks: list, y_tasks: list) -> float:
    """P(X > Y) + P(X = Y) / 2, averaged over tasks; ``x_tasks[i]`` and ``y_tasks[i]`` are the
    run scores of two algorithms on task ``i``."""
    per_task = []
    for x, y in zip(x_tasks, y_tasks, strict=True):
        x, y = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
        per_task.append(np.mean((x > y) + 0.5 * (x == y)))
    return float(np.mean(per_task))


def against_first(finals: dict, lower_is_better: bool = False) -> dict:
    """For each run (label -> its seeds' final scores): ``(IQM, low, high, P)``, the IQM with its
    95% stratified-bootstrap interval, and the probability that a seed of the first run beats a
    seed of this one (1/2 for the first against itself)."""
    sign = -1.0 if lower_is_better else 1.0
    first = sign * np.asarray(next(iter(finals.values())), dtype=float)
    return {label: (*stratified_bootstrap_ci([scores]),
                    probability_of_improvement([first], [sign * np.asarray(scores, dtype=float)]))
            for label, scores in finals.items()}
