"""A figure's plot (PNG and PDF) and ``results.md`` from the run directories of its grid."""

from pathlib import Path

from lica import plots, stats
from lica.experiments import paper
from lica.experiments.figures import Figure
from lica.experiments.grid import unit_dir
from lica.run import atomic_write

BAND_NAMES = {"median": "median and quartiles", "mean": "mean and standard deviation"}


def panel_curves(figure: Figure, out) -> list[tuple]:
    """``(panel, {label: curve}, {label: algo}, {label: each seed's final value})`` for every
    panel, leaving out units with no values of the panel's metric yet (unstarted, or started
    with only the untrained policy's row: training metrics come with the first evaluation)."""
    result = []
    for panel in figure.panels:
        curves, algos, finals = {}, {}, {}
        for unit in figure.units:
            runs = plots.find_runs(unit_dir(out, figure.name, unit)) if unit.env == panel.env else []
            series = [s for s in plots.seed_series(runs, panel.metric, figure.x) if s]
            if series:
                curves[unit.label] = plots.aggregate(series, figure.band)
                algos[unit.label] = unit.algo
                finals[unit.label] = [s[-1][1] for s in series]
        result.append((panel, curves, algos, finals))
    return result


def paper_at(panel, curve: plots.Curve, algo: str, tolerance: float = 160_000) -> str:
    """The paper's Fig. 4 median for ``algo`` at our last evaluation's env steps, where the
    paper has a point within ``tolerance`` of it (half the paper's evaluation interval)."""
    if panel.metric != "test_win_rate" or not panel.env.startswith("smac:"):
        return "-"
    last = plots.Curve(curve.x[-1:], curve.center[-1:], curve.low[-1:], curve.high[-1:], curve.seeds)
    found = paper.at_paper_steps(last, paper.paper_points(panel.env.split(":", 1)[1], algo), tolerance)
    return f"{found[-1][2]:.2f} at {found[-1][0] / 1e6:g}M" if found else "-"


def with_paper_curve(panel, curves: dict) -> dict:
    """``curves`` plus the paper's LICA curve on a StarCraft win-rate panel, up to our last step."""
    if not panel.env.startswith("smac:") or panel.metric != "test_win_rate" or not curves:
        return curves
    reference = paper.paper_curve(panel.env.split(":", 1)[1], until=max(c.x[-1] for c in curves.values()))
    return curves if reference is None else {**curves, "paper: LICA (read off Fig. 4)": reference}


def final_value(curve: plots.Curve, band: str) -> str:
    center, low, high = curve.center[-1], curve.low[-1], curve.high[-1]
    if band == "median":
        return f"{center:.3f} [{low:.3f}, {high:.3f}]"
    return f"{center:.3f} ± {high - center:.3f}"


def ordering(curves: dict, lower_is_better: bool) -> str:
    """Labels from best to worst final value."""
    ranked = sorted(curves, key=lambda label: curves[label].center[-1], reverse=not lower_is_better)
    return " > ".join(ranked)


def robust_columns(robust: tuple) -> str:
    """The IQM of a run's final values with its 95% bootstrap interval, and the probability
    that a seed of the first run (the figure's LICA) beats a seed of this one
    (``lica.stats.against_first``)."""
    point, low, high, better = robust
    return f"{point:.3f} [{low:.3f}, {high:.3f}] | {better:.2f}"


def panel_section(figure: Figure, panel, curves: dict, algos: dict, finals: dict) -> list[str]:
    """One results.md section: the final value of every run on one panel next to the paper's
    at the same env steps (where the paper's Fig. 4 has one), robust statistics of the seeds'
    final values (``lica.stats``), and the runs' ordering."""
    better = "lower" if panel.lower_is_better else "higher"
    lines = [f"## {panel.env}: {panel.ylabel} ({better} is better)", ""]
    if not curves:
        return lines + ["No runs yet.", ""]
    first = next(iter(curves))
    robust = stats.against_first(finals, panel.lower_is_better)
    lines += [f"| run | final {panel.metric} | paper at the same steps | IQM of seeds [95% CI] | "
              f"P({first} better) | mean over training | {figure.x} | seeds |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {label} | {final_value(c, figure.band)} | {paper_at(panel, c, algos[label])} | "
              f"{robust_columns(robust[label])} | "
              f"{c.center.mean():.3f} | {c.x[-1]:,.0f} | {c.seeds} |" for label, c in curves.items()]
    return lines + ["", f"Ordering here: {ordering(curves, panel.lower_is_better)}", ""]


def results_markdown(figure: Figure, budget: str, panels: list[tuple]) -> str:
    lines = [f"# {figure.title}", "",
             f"Budget `{budget}`; final evaluation, {BAND_NAMES[figure.band]} over seeds; the mean of "
             "the center line over all evaluations measures speed.", "",
             f"![{figure.name}]({figure.name}.png)", ""]
    for panel, curves, algos, finals in panels:
        lines += panel_section(figure, panel, curves, algos, finals)
    return "\n".join(lines + ["## What the paper reports", "", figure.paper, ""])


def report(figure: Figure, budget: str, out) -> list[Path]:
    """Draw ``OUT/<figure>/<figure>.png|pdf`` and write ``OUT/<figure>/results.md``; returns the paths."""
    panels = panel_curves(figure, out)
    base = Path(out) / figure.name
    drawn = [(p.env, p.ylabel, with_paper_curve(p, curves)) for p, curves, *_ in panels]
    paths = plots.draw(drawn, base / figure.name, plots.X_LABELS[figure.x], figure.title)
    results = base / "results.md"
    atomic_write(results, results_markdown(figure, budget, panels))
    return [*paths, results]
