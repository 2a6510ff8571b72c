"""The paper's Fig. 4 curves beside ours, at equal env steps.

``paper_fig4_curves.csv`` (next to this module) holds the median test win rates of the paper's
Fig. 4, read by eye off the authors' published figure (``imgs/performance.png`` in their
repository; about +-5 points and +-0.5M steps, see the file's header). It puts the paper's
value next to ours; it is never a test oracle.
"""

import csv
from pathlib import Path

import numpy as np

from lica import plots
from lica.config import resolve
from lica.experiments.grid import RESULT_NEUTRAL
from lica.run import RunDir

PAPER_CSV = Path(__file__).with_name("paper_fig4_curves.csv")
COLUMNS = ["map", "env_steps", "seeds", "hypernet_hidden", "changes", "ours_median", "ours_q1", "ours_q3",
           "paper_median"]
# Not counted as a change from the paper's settings: the budget, seeds, how often and how much
# a run is evaluated, what only changes its speed, and the critic's width (a column of its own).
NOT_CHANGES = {"env", "algo", "seeds", "seed", "env_steps", "eval_interval", "eval_episodes", "hypernet_hidden",
               *RESULT_NEUTRAL}


def paper_points(map_name: str, algo: str = "lica") -> list[tuple[int, float]]:
    """The paper's (env steps, median win rate) points for ``algo`` on ``map_name``, in order."""
    with PAPER_CSV.open() as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return sorted((int(r["env_steps"]), float(r["paper_median_win_rate"])) for r in rows
                      if r["map"] == map_name and r["algo"] == algo)


def paper_curve(map_name: str, algo: str = "lica", until: float = np.inf) -> plots.Curve | None:
    """The paper's points as a curve without a band, for drawing beside ours: up to the first
    point at or past ``until`` env steps (our last evaluation)."""
    points = paper_points(map_name, algo)
    if not points:
        return None
    x, y = map(np.array, zip(*points))
    end = int(np.searchsorted(x, until)) + 1
    return plots.Curve(x[:end], y[:end], y[:end], y[:end], seeds=0)


def at_paper_steps(curve: plots.Curve, points, tolerance: float) -> list[tuple]:
    """``(paper_steps, ours_index, paper_value)`` for each paper point that one of our
    evaluations lies within ``tolerance`` env steps of (the nearest one); ours is never
    interpolated."""
    out = []
    for steps, value in points:
        k = int(np.argmin(np.abs(curve.x - steps)))
        if abs(curve.x[k] - steps) <= tolerance:
            out.append((steps, k, value))
    return out


def changes(config: dict, algo: str = "lica") -> str:
    """The settings of a run (its ``config.yaml``) that differ from the paper's for its map and
    algorithm (``lica.config.resolve``'s defaults and presets), as ``key=value`` joined by spaces,
    or ``none``; ``NOT_CHANGES`` are left out. A nested setting is written ``env_args.key=value``
    and counts wherever the paper's config does not give it the same value."""
    paper = resolve(config["env"], config.get("algo", algo)).model_dump()
    differ = []
    for key, value in sorted(config.items()):
        if key in NOT_CHANGES or key not in paper:
            continue
        if isinstance(value, dict):
            differ += [f"{key}.{sub}={v}" for sub, v in sorted(value.items())
                       if sub not in paper[key] or paper[key][sub] != v]
        elif paper[key] != value:
            differ.append(f"{key}={value}")
    return " ".join(differ) or "none"


def compare_rows(map_name: str, runs: list, algo: str = "lica", metric: str = "test_win_rate") -> list[dict]:
    """One row per paper point of ``algo`` on ``map_name`` that ``runs`` (run directories of one
    setting, seeds pooled: see ``by_setting``) reached: our median and quartiles over seeds next to
    the paper's median. Evaluations count as "at" a paper point within half an evaluation interval."""
    paths = [run for path in runs for run in plots.find_runs(path)]
    config = RunDir(paths[0]).read_config()
    curve = plots.load_curve(paths, metric, "env_steps", "median")
    seeds = len(plots.seed_series(paths, metric, "env_steps"))
    rows = []
    for steps, k, value in at_paper_steps(curve, paper_points(map_name, algo), config["eval_interval"] / 2):
        rows.append({"map": map_name, "env_steps": steps, "seeds": seeds,
                     "hypernet_hidden": config.get("hypernet_hidden") or "full", "changes": changes(config, algo),
                     "ours_median": round(curve.center[k], 3), "ours_q1": round(curve.low[k], 3),
                     "ours_q3": round(curve.high[k], 3), "paper_median": value})
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The comparison rows as a Markdown table (median [quartiles] against the paper)."""
    lines = ["| map | env steps | seeds | critic width | changes from the paper's settings | ours: median [q1, q3] "
             "| paper |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['map']} | {r['env_steps'] / 1e6:g}M | {r['seeds']} | {r['hypernet_hidden']} | {r['changes']} | "
              f"{r['ours_median']:.2f} [{r['ours_q1']:.2f}, {r['ours_q3']:.2f}] | {r['paper_median']:.2f} |"
              for r in rows]
    return "\n".join(lines)


def by_setting(runs: list, algo: str = "lica") -> dict[str, list]:
    """A map's run directories grouped by setting: the critic's width (``hypernet_hidden``;
    ``full`` as wide as the authors') and the other ``changes`` from the paper's settings. Each
    group's seeds are pooled, groups are never mixed; keys name the setting."""
    groups: dict[str, list] = {}
    for path in (run for top in runs for run in plots.find_runs(top)):
        config = RunDir(path).read_config()
        setting = f"critic width {config.get('hypernet_hidden') or 'full'}"
        if (changed := changes(config, algo)) != "none":
            setting += f", {changed}"
        groups.setdefault(setting, []).append(path)
    return groups


def write(maps_runs: dict[str, list], out_dir, algo: str = "lica") -> list[Path]:
    """For ``{map: [run dirs]}``: ``fig4_<algo>_vs_paper.csv`` and ``.md`` and one figure per map
    (``fig4_<algo>_vs_paper_<map>.png``) with our median and quartiles over the paper's curve,
    rows and a curve per setting (``by_setting``)."""
    from lica.run import atomic_write

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for map_name, runs in maps_runs.items():
        curves = {}
        for setting, paths in by_setting(runs, algo).items():
            rows += compare_rows(map_name, paths, algo)
            curves[f"ours ({algo}, {setting})"] = plots.load_curve(paths, "test_win_rate", "env_steps", "median")
        paper = paper_curve(map_name, algo, until=max(curve.x[-1] for curve in curves.values()))
        if paper is not None:
            curves["paper (read off Fig. 4)"] = paper
        written += plots.draw([(map_name, "test win rate", curves)], out_dir / f"fig4_{algo}_vs_paper_{map_name}",
                              plots.X_LABELS["env_steps"])
    csv_path = out_dir / f"fig4_{algo}_vs_paper.csv"
    lines = [",".join(COLUMNS)] + [",".join(str(r[c]) for c in COLUMNS) for r in rows]
    atomic_write(csv_path, "\n".join(lines) + "\n")
    md_path = csv_path.with_suffix(".md")
    atomic_write(md_path, markdown_table(rows) + "\n")
    return [csv_path, md_path, *written]
