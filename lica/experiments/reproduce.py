"""``lica reproduce FIGURE``: run a figure's grid (here or on Ray), then draw it and tabulate it."""

from pathlib import Path

from lica.experiments import figures, grid, report


def reproduce(name: str, budget: str = "quick", out="runs/reproduce", ray: str | None = None,
              group_size: int | None = None, log=print) -> list[Path]:
    """Run (or resume) figure ``name`` at ``budget`` into ``out``; returns the figure and
    results.md paths. ``ray``: a Ray address (or ``auto``) to spread the tasks over a cluster."""
    figure = figures.get(name)
    tasks = grid.tasks(figure, budget, group_size)
    log(f"{figure.title}: {len(tasks)} tasks, budget '{budget}', into {out}")
    if ray:
        grid.run_ray(tasks, out, ray, log)
    else:
        grid.run_local(tasks, out, log)
    return report.report(figure, budget, out)
