"""``lica export``: run directories in the JSON layout of marl-eval (instadeepai/marl-eval), which
Mava, BenchMARL and JaxMARL exchange results in.

    {env: {task: {algo: {"run_<seed>": {"step_<k>": {"step_count": N, "return": [..], ...},
                                         "absolute_metrics": {...}}}}}}

metrics.csv keeps each evaluation's mean over its episodes, not every episode's value, so each
list holds that one mean; ``absolute_metrics`` repeats the last evaluation.
"""

import json
from collections import defaultdict

from lica.plots import find_runs
from lica.run import RunDir, atomic_write

# metrics.csv column -> marl-eval metric name
METRICS = {"test_return_mean": "return", "test_win_rate": "win_rate", "test_episode_length": "episode_length"}


def marl_eval(paths) -> dict:
    """Every run directory under ``paths`` as one marl-eval dictionary."""
    out = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for run in (r for p in paths for r in find_runs(p)):
        config = RunDir(run).read_config()
        env, _, task = config["env"].partition(":")
        per_seed = defaultdict(list)
        for row in RunDir(run).read_metrics():
            per_seed[row["seed"]].append(row)
        for seed, rows in per_seed.items():
            steps = {f"step_{k}": {"step_count": row["env_steps"], **values(row)} for k, row in enumerate(rows)}
            out[env][task or env][config["algo"]][f"run_{seed}"] = {**steps, "absolute_metrics": values(rows[-1])}
    return json.loads(json.dumps(out))


def values(row: dict) -> dict:
    return {name: [row[column]] for column, name in METRICS.items() if column in row}


def export(paths, out) -> int:
    """Write ``marl_eval(paths)`` to ``out``; returns the number of runs (seeds) written."""
    data = marl_eval(paths)
    atomic_write(out, json.dumps(data, indent=1))
    return sum(len(algo) for env in data.values() for task in env.values() for algo in task.values())
