"""The ``lica`` command: train, evaluate, list, reproduce the paper's figures, plot (typer + rich).

Every user mistake (unknown name, bad key or value, existing run directory, corrupt checkpoint)
ends in a one-line ``error: ...`` on stderr and exit code 2, before anything is written.
"""

import atexit
import os
import statistics
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="LICA and cooperative MARL baselines in JAX.")
console = Console()


def fail(message: str):
    typer.secho(f"error: {message}", err=True, fg="red")
    raise SystemExit(2)  # not typer.Exit, a RuntimeError the commands' handlers would catch again


@contextmanager
def interruptible(resume_hint: str):
    """SIGTERM (a scheduler's or a session's end) handled like Ctrl-C: the command stops at its
    next return to Python (``lica.interrupts``), the last checkpoint intact, and ends with one
    line and exit code 130. ``resume_hint()`` gives that line."""
    from lica.interrupts import stop_on_signals

    try:
        with stop_on_signals():
            yield
    except KeyboardInterrupt:
        typer.secho(resume_hint(), err=True, fg="yellow")
        raise SystemExit(130) from None


def summarize(rows: list[dict]) -> str:
    """Median over seeds of the headline test metrics of one evaluation."""
    keys = [k for k in ("test_return_mean", "test_win_rate") if k in rows[0]]
    return ", ".join(f"{k} {statistics.median(r[k] for r in rows):.3f}" for k in keys)


def resume_hint(out) -> str:
    """What to do after an interrupted ``lica train``, from what its checkpoint holds."""
    from lica.run import RunDir

    meta = RunDir(out).checkpoint_meta()
    if meta is None:
        return f"interrupted before the first checkpoint; start again with --out {out} --overwrite"
    step = f" at env step {meta['env_steps']:,}" if "env_steps" in meta else ""
    return f"interrupted{step}; continue with --resume --out {out}"


@app.command()
def train(
    env: Annotated[Optional[str], typer.Option(
        help="environment, e.g. mpe:spread-3 (see 'lica list'); on --resume, the run's")] = None,
    algo: Annotated[Optional[str], typer.Option(
        help="algorithm, e.g. mappo (default lica; on --resume, the run's)")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="seeds trained at once (vmapped)")] = None,
    env_steps: Annotated[Optional[int], typer.Option(help="training budget in env steps per seed")] = None,
    config: Annotated[Optional[Path], typer.Option(
        help="YAML file of config overrides, or a shipped one by name (lica list)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override one key: key=value")] = None,
    out: Annotated[Optional[Path], typer.Option(help="run directory (default runs/<env>-<algo>-<time>)")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out from its last checkpoint")] = False,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run directory")] = False,
    logger: Annotated[list[str], typer.Option(help="where evaluations go besides metrics.csv, repeatable: "
                                                   "csv (metrics.csv alone), tensorboard, wandb")] = ["tensorboard"],
):
    """Train ALGO on ENV; writes config, metrics.csv, TensorBoard events and checkpoints."""
    from lica import api

    try:
        start = api.prepare(env, algo, out, resume=resume, overwrite=overwrite, file=config, sets=set_ or [],
                            loggers=logger, seeds=seeds, env_steps=env_steps)
        cfg, out = start.config, start.run_dir.path
        console.print(f"training [bold]{cfg.algo}[/] on [bold]{cfg.env}[/], {cfg.seeds} seed(s), "
                      f"{cfg.env_steps:,} env steps each -> {out}")
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("{task.fields[result]}"), console=console)
        with interruptible(lambda: resume_hint(out)), bar:
            task = bar.add_task("env steps (first evaluation compiles)", total=cfg.env_steps, result="")

            def progress(done, total, rows):
                bar.update(task, completed=done, description="env steps", result=summarize(rows))
                if not console.is_terminal:  # logs and CI get a plain line per evaluation
                    console.print(f"env steps {done:,}/{total:,}: {summarize(rows)}", highlight=False)

            last = api.run(start, progress, logger).final().to_dict("records")
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    console.print(f"final (median over {cfg.seeds} seeds): {summarize(last)}; "
                  f"wall {last[0]['wall_s']:.0f}s; metrics in {out / 'metrics.csv'}")


@app.command("eval")
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a directory written by 'lica train'")],
    episodes: Annotated[int, typer.Option(help="greedy test episodes per seed")] = 32,
    render: Annotated[Optional[Path], typer.Option(help="draw one greedy episode of seed 0 to this GIF")] = None,
):
    """Evaluate a trained run greedily; optionally draw an episode."""
    from lica.evaluation import evaluate_run

    try:
        rows = evaluate_run(run_dir, episodes, render)
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    table = Table("seed", *[k for k in rows[0] if k != "seed"])
    for row in rows:
        table.add_row(str(row["seed"]), *[f"{v:.3f}" for k, v in row.items() if k != "seed"])
    console.print(table)
    console.print(f"median over seeds: {summarize(rows)}")
    if render:
        console.print(f"episode drawn to {render}")


@app.command("list")
def list_(
    keys: Annotated[Optional[str], typer.Option(help="show ALGO's config keys: default and meaning")] = None,
):
    """Environments, algorithms and presets; or one algorithm's config keys."""
    from lica import algos, envs, presets
    from lica.config import describe, packaged_configs

    if keys is not None:
        try:
            config_cls = algos.get(keys).Config
        except ValueError as e:
            fail(str(e))
        table = Table("key", "default", "meaning", title=f"{keys} config keys (--set key=value)")
        for key, default, meaning in describe(config_cls):
            table.add_row(key, default, meaning)
        console.print(table)
        return
    console.print("[bold]environments:[/] " + ", ".join(envs.names()) + ", jaxmarl:<any jaxmarl id>")
    console.print("[bold]algorithms:[/] " + ", ".join(algos.names()))
    table = Table("algo", "env", "preset overrides", title="presets")
    for algo, pattern, values in presets.table():
        table.add_row(algo, pattern, ", ".join(f"{k}={v}" for k, v in values.items()))
    console.print(table)
    console.print("[bold]config files[/] (--config NAME; deviations from the paper, see each file): "
                  + ", ".join(packaged_configs()))


@app.command()
def reproduce(
    figure: Annotated[str, typer.Argument(help="fig2, fig3, fig4, fig5, fig6, figA1 or versus (after the paper)")],
    budget: Annotated[str, typer.Option(
        help="quick (a laptop CPU) or paper (the paper's budgets; versus: 1M steps, 3 seeds)")] = "quick",
    out: Annotated[Path, typer.Option(help="results directory; an existing one is resumed")] = Path("runs/reproduce"),
    ray: Annotated[Optional[str], typer.Option(help="run the grid as Ray tasks on this cluster (address or 'auto')")]
    = None,
    seeds_per_task: Annotated[Optional[int], typer.Option(min=1, help="split each unit's seeds into tasks this size")]
    = None,
):
    """Run one figure of the paper (its grid of env, algorithm, seeds), draw it and write results.md.

    Running it again resumes: finished units are skipped, started ones continue from their checkpoint.
    """
    from lica.experiments.reproduce import reproduce as run

    hint = "interrupted; run the same command again to continue (each started unit resumes from its checkpoint)"
    try:
        with interruptible(lambda: hint):
            paths = run(figure, budget, out, ray, seeds_per_task, log=lambda m: console.print(m, highlight=False))
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    console.print("written: " + ", ".join(map(str, paths)))


@app.command("export")
def export_(
    runs: Annotated[list[Path], typer.Argument(help="run directories, or folders of them")],
    out: Annotated[Path, typer.Option(help="the JSON file to write")] = Path("results.json"),
    format_: Annotated[str, typer.Option("--format", help="marl-eval (the only format so far)")] = "marl-eval",
):
    """Write runs' evaluations as JSON for other tools (marl-eval's layout)."""
    from lica.export import export
    from lica.plots import find_runs

    if format_ != "marl-eval":
        fail(f"unknown format '{format_}'; choose one of: marl-eval")
    missing = [str(r) for r in runs if not find_runs(r)]
    if missing:
        fail(f"no metrics.csv in {', '.join(missing)}")
    try:
        count = export(runs, out)
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    console.print(f"{count} run(s) written to {out}")


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="run directories, or folders of them: one curve each")],
    metric: Annotated[Optional[str], typer.Option(help="metrics.csv column or a/b (default: win rate or return)")]
    = None,
    band: Annotated[str, typer.Option(help="median (with quartiles) or mean (with std) over seeds")] = "median",
    x: Annotated[str, typer.Option(help="env_steps or updates")] = "env_steps",
    out: Annotated[Path, typer.Option(help="figure path without suffix; .png and .pdf are written")] = Path("curves"),
    aggregate: Annotated[bool, typer.Option(help="also print each run's IQM of its seeds' final values with a 95% "
                                                 "bootstrap interval, and P(a seed of the first run is better)")]
    = False,
    lower_is_better: Annotated[bool, typer.Option(help="for --aggregate: lower values of the metric are better")]
    = False,
):
    """Draw learning curves from any set of runs."""
    from lica import plots

    try:
        missing = [str(r) for r in runs if not plots.find_runs(r)]
        if missing:
            fail(f"no metrics.csv in {', '.join(missing)}")
        metric = metric or plots.default_metric(runs)
        names = [r.name or str(r) for r in runs]  # a legend of folder names, not absolute paths
        labels = names if len(set(names)) == len(names) else [str(r) for r in runs]
        curves = {label: plots.load_curve([r], metric, x, band) for label, r in zip(labels, runs)}
        paths = plots.draw([("", metric, curves)], out, plots.X_LABELS[x])
        finals = {label: [s[-1][1] for s in plots.seed_series(plots.find_runs(r), metric, x) if s]
                  for label, r in zip(labels, runs)}
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    console.print("written: " + ", ".join(map(str, paths)))
    if aggregate:
        from lica import stats

        first = labels[0]
        table = Table("run", "seeds", f"IQM of final {metric} [95% CI]", f"P({first} better)")
        for label, (point, low, high, better) in stats.against_first(finals, lower_is_better).items():
            table.add_row(label, str(len(finals[label])), f"{point:.3f} [{low:.3f}, {high:.3f}]", f"{better:.2f}")
        console.print(table)


@app.command("vs-paper")
def vs_paper(
    runs: Annotated[list[str], typer.Argument(help="MAP=RUN_DIR pairs, e.g. 2s3z=runs/2s3z (a map may repeat)")],
    out: Annotated[Path, typer.Option(help="folder for the table, its Markdown and one figure per map")] = Path("."),
    algo: Annotated[str, typer.Option(help="whose curve in the paper's Fig. 4 to compare with")] = "lica",
):
    """Put the test win rate of StarCraft runs beside the paper's Fig. 4 at the same env steps."""
    from lica.experiments import paper

    maps: dict[str, list[str]] = {}
    for pair in runs:
        name, sep, path = pair.partition("=")
        if not sep or not Path(path, "metrics.csv").exists():
            fail(f"expected MAP=RUN_DIR with a metrics.csv, got '{pair}'")
        if not paper.paper_points(name, algo):
            fail(f"the paper's Fig. 4 has no {algo} curve for '{name}'; maps: 2s3z, 1c3s5z, 5m_vs_6m, "
                 "2c_vs_64zg, MMM2, 3s5z_vs_3s6z")
        maps.setdefault(name, []).append(path)
    try:
        paths = paper.write(maps, out, algo)
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    console.print("written: " + ", ".join(map(str, paths)))


def use_compilation_cache():
    """Keep compiled programs on disk between commands (JAX's persistent cache), so a resumed or
    repeated run skips XLA's compile: a 5k-step smac:2s3z run took 68-69 s, then 28-30 s. Where:
    ``LICA_COMPILATION_CACHE`` (``off`` turns it off), else ``~/.cache/lica/xla``; at most 2 GiB,
    the least recently used programs dropped first. A cache the user configured for JAX wins."""
    import jax

    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lica" / "xla"
    where = os.environ.get("LICA_COMPILATION_CACHE", str(default))
    if where != "off" and not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", where)
        jax.config.update("jax_compilation_cache_max_size", 2 * 2**30)


def main():
    """The ``lica`` executable. An interrupted command (exit code 130) leaves at once, without
    the interpreter's teardown: a signal can arrive while XLA compiles in its own threads, and
    tearing the process down under them crashed it (LLVM errors, segfaults, exit 134 or 139
    instead of 130). Everything lica writes is closed by then; atexit handlers (Ray) still run."""
    use_compilation_cache()
    try:
        sys.exit(app())
    except SystemExit as e:
        if e.code != 130:
            raise
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
        os._exit(130)
