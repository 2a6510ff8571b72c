"""Reproducing the paper: figure specs, the grid runner (local and Ray), resume, plots, results.md."""

import csv
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lica import envs, plots
from lica.cli import app
from lica.experiments import figures, grid, report
from lica.experiments.figures import Budget, Figure, Panel, Unit

envs.names()  # import every family now: jaxmarl's import-time printing confuses CliRunner's capture
runner = CliRunner()

# Two junction units, 2 seeds, 2 updates of 8 episodes, evaluated after each update.
TINY = Figure(
    name="tiny", title="tiny grid",
    units=(Unit("junction", "lica", "LICA"), Unit("junction", "coma", "COMA (test)")),
    budgets={"quick": {"junction": Budget(seeds=2, env_steps=16, sets=("batch_size=8", "eval_interval=8"))}},
    panels=(Panel("junction", "test_return_mean", "test return"),), band="median",
    paper="(none)",
)


def read_rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(f)]


def all_rows(out, tasks):
    return {str(t): read_rows(t.path(out)) for t in tasks}


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    """The tiny grid, run once on the local runner (tests copy it before changing it)."""
    out = tmp_path_factory.mktemp("local")
    grid.run_local(grid.tasks(TINY, "quick"), out, log=lambda m: None)
    return out


def test_every_figure_resolves_to_valid_configs_at_both_budgets():
    for figure in figures.FIGURES.values():
        for budget in figure.budgets:
            tasks = grid.tasks(figure, budget)
            assert len(tasks) == len(figure.units)
            for task in tasks:
                assert task.config().seeds == figures.budget(figure, budget, task.unit.env).seeds
            assert {p.env for p in figure.panels} == {u.env for u in figure.units}


def test_paper_budgets_are_the_papers():
    fig4 = figures.get("fig4")
    steps = {t.unit.env: t.config().env_steps for t in grid.tasks(fig4, "paper")}
    assert steps["smac:2s3z"] == 32_000_000 and steps["smac:MMM2"] == 64_000_000
    fig3 = grid.tasks(figures.get("fig3"), "paper")
    assert {t.config().env_args.get("max_steps", 200) for t in fig3} == {200}
    assert {t.config().env_steps for t in fig3} == {1_000_000}  # 5000 episodes of 200 steps
    assert {t.seeds for t in fig3} == {5}


def test_seed_groups_split_a_unit_into_tasks():
    tasks = grid.tasks(figures.get("fig3"), "quick", group_size=2)
    lica = [t for t in tasks if t.unit.env == "mpe:spread-3" and t.unit.algo == "lica"]
    assert [(t.seed, t.seeds) for t in lica] == [(0, 2), (2, 2), (4, 1)]
    assert lica[2].path("out").name == "seeds_4-4"


def test_band_statistics_on_known_numbers():
    assert plots.band_stats([1, 2, 3, 4, 5], "median") == (3.0, 2.0, 4.0)
    center, low, high = plots.band_stats([2, 4, 4, 4, 5, 5, 7, 9], "mean")
    assert (center, low, high) == (5.0, 3.0, 7.0)


def test_seeds_are_aligned_by_evaluation_index():
    series = [[(0, 0.0), (100, 1.0), (210, 3.0)], [(0, 1.0), (104, 2.0)], [(0, 2.0), (96, 6.0)]]
    curve = plots.aggregate(series, "median")
    np.testing.assert_allclose(curve.x, [0, 100, 210])
    np.testing.assert_allclose(curve.center, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(curve.low, [0.5, 1.5, 3.0])
    np.testing.assert_allclose(curve.high, [1.5, 4.0, 3.0])
    assert plots.metric_value({"a": 6.0, "b": 3.0}, "a/b") == 2.0
    assert plots.metric_value({"a": 6.0}, "a/b") is None


@pytest.mark.xdist_group("ray")
@pytest.mark.filterwarnings("ignore:os.fork")
def test_local_and_ray_runners_give_the_same_metrics(tmp_path, local_grid, monkeypatch):
    import ray  # part of the dev extra: this test must run, never skip
    monkeypatch.setenv("RAY_worker_niceness", "0")  # at Ray's default 15, the other test worker starves them
    tasks = grid.tasks(TINY, "quick")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never a stale cluster
    try:
        grid.run_ray(tasks, tmp_path / "ray", "auto", log=lambda m: None)
    finally:
        ray.shutdown()
    local, remote = all_rows(local_grid, tasks), all_rows(tmp_path / "ray", tasks)
    assert local == remote
    assert len(local[str(tasks[0])]) == 2 * 3  # 2 seeds: step 0 and two evaluations


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
@pytest.mark.filterwarnings("ignore:os.fork")
def test_a_ray_grid_completes_when_a_worker_node_dies_mid_run(tmp_path, monkeypatch):
    """A head and worker nodes on this machine (``ray.cluster_utils.Cluster``). The first worker
    is killed while it trains a unit and a second joins: Ray retries the task there, and it
    resumes the unit from its last checkpoint. Every unit ends with the local runner's rows,
    none twice."""
    import ray
    from ray.cluster_utils import Cluster
    monkeypatch.setenv("RAY_worker_niceness", "0")
    longer = replace(TINY, budgets={"quick": {"junction": Budget(
        seeds=2, env_steps=4000, sets=("batch_size=8", "eval_interval=400"))}})
    tasks = grid.tasks(longer, "quick")
    grid.run_local(tasks, tmp_path / "local", log=lambda m: None)
    expected = all_rows(tmp_path / "local", tasks)
    first = Path(tasks[0].path(tmp_path / "ray")) / "metrics.csv"

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # tasks run on workers
    doomed = cluster.add_node(num_cpus=1)  # the only worker, so it takes the first unit
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        driver = threading.Thread(target=grid.run_ray, args=(tasks, tmp_path / "ray", "auto"),
                                  kwargs={"log": lambda m: None})
        driver.start()
        while not (first.exists() and len(read_rows(first.parent)) >= 4):  # past its first evaluation
            assert driver.is_alive()
            time.sleep(0.05)
        cluster.remove_node(doomed, allow_graceful=False)
        rows_at_kill = len(read_rows(first.parent))
        cluster.add_node(num_cpus=1)
        driver.join(timeout=600)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert rows_at_kill < 22  # the unit was unfinished when its node died
    assert all_rows(tmp_path / "ray", tasks) == expected
    assert [len(r) for r in expected.values()] == [22, 22]  # 2 seeds x (step 0 + 10 evaluations)


def test_two_processes_on_one_output_train_each_unit_once(tmp_path, local_grid):
    """Two grid processes started together on one output directory (two ``lica reproduce``):
    the claims send each unit to one of them, and the rows are the single process's."""
    code = ("import sys; from tests.test_reproduce import TINY; from lica.experiments import grid; "
            "grid.run_local(grid.tasks(TINY, 'quick'), sys.argv[1])")
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=Path(__file__).parents[1],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    logs = "".join(p.communicate(timeout=600)[0] for p in processes)
    assert [p.returncode for p in processes] == [0, 0], logs
    tasks = grid.tasks(TINY, "quick")
    for task in tasks:
        assert logs.count(f"{task}: trained") == 1, logs
    assert all_rows(tmp_path, tasks) == all_rows(local_grid, tasks)


def test_a_unit_another_process_is_training_is_skipped_and_left_alone(tmp_path, local_grid):
    """Two reproduce processes on one output directory: the unit one holds is not touched by
    the other (a claim is an open file description's flock, so a second open in this process
    stands in for the other process)."""
    task = grid.tasks(TINY, "quick")[1]
    with grid.claim(Path(task.path(tmp_path))) as mine:
        assert mine
        assert grid.run_task(task, tmp_path) == grid.SKIPPED
        assert not Path(task.path(tmp_path)).exists()
    assert grid.run_task(task, tmp_path) == "trained"
    assert read_rows(task.path(tmp_path)) == read_rows(task.path(local_grid))


def test_an_interrupted_grid_skips_finished_units_and_resumes_started_ones(tmp_path, local_grid):
    tasks = grid.tasks(TINY, "quick")
    done, started = tasks
    shutil.copytree(done.path(local_grid), done.path(tmp_path))
    config_file = done.path(tmp_path) / "config.yaml"  # as written before critic_chunk existed
    lines = config_file.read_text().splitlines(keepends=True)
    config_file.write_text("".join(line for line in lines if not line.startswith("critic_chunk:")))
    half = replace(started, env_steps=8)  # a run stopped after its first evaluation
    grid.run_task(half, tmp_path)
    finished_rows = read_rows(done.path(tmp_path))
    messages = []
    grid.run_local(tasks, tmp_path, log=messages.append)
    assert any(m.endswith(f"{done}: already done") for m in messages)
    assert any(m.endswith(f"{started}: resumed") for m in messages)
    assert read_rows(done.path(tmp_path)) == finished_rows
    rows = read_rows(started.path(tmp_path))
    assert [int(r["env_steps"]) for r in rows] == [0, 0, 8, 8, 16, 16]
    changed = replace(started, sets=(*started.sets, "eval_episodes=3"))
    with pytest.raises(figures.ExperimentError, match="other settings"):
        grid.run_task(changed, tmp_path)


def test_reproduce_draws_the_figure_and_results_table(tmp_path, monkeypatch, local_grid):
    monkeypatch.setitem(figures.FIGURES, "tiny", TINY)
    shutil.copytree(local_grid, tmp_path, dirs_exist_ok=True)  # finished units: reproduce only draws
    result = runner.invoke(app, ["reproduce", "tiny", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("tiny.png", "tiny.pdf", "results.md"):
        assert (tmp_path / "tiny" / name).stat().st_size > 0
    table = (tmp_path / "tiny" / "results.md").read_text()
    assert "| LICA |" in table and "| COMA (test) |" in table and "Ordering here:" in table
    assert "IQM of seeds [95% CI] | P(LICA better)" in table
    lica_row = next(line for line in table.splitlines() if line.startswith("| LICA |"))
    assert lica_row.split(" | ")[4] == "0.50"  # LICA against itself: even
    assert result.output.count("already done") == 2


def test_a_unit_with_only_its_untrained_row_is_left_out_of_the_report(tmp_path, local_grid):
    """A unit just started has the untrained policy's row (test metrics, no training ones)."""
    shutil.copytree(local_grid, tmp_path, dirs_exist_ok=True)
    started = grid.tasks(TINY, "quick")[1].path(tmp_path) / "metrics.csv"
    lines = started.read_text().splitlines()
    started.write_text("\n".join(lines[:3]) + "\n")  # header and step 0 of both seeds
    training = replace(TINY, panels=(Panel("junction", "train_return_mean", "training return"),))
    (_, curves, _, finals), = report.panel_curves(training, tmp_path)
    assert list(curves) == list(finals) == ["LICA"]
    (_, curves, _, _), = report.panel_curves(TINY, tmp_path)  # its test return at step 0 is drawn
    assert list(curves) == ["LICA", "COMA (test)"]


def test_plot_draws_png_and_pdf_from_run_directories(tmp_path, local_grid):
    tasks = grid.tasks(TINY, "quick")
    dirs = [str(grid.unit_dir(local_grid, "tiny", t.unit)) for t in tasks]
    result = runner.invoke(app, ["plot", *dirs, "--band", "mean", "--out", str(tmp_path / "curves")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "curves.pdf").stat().st_size > 0
    panels = report.panel_curves(TINY, local_grid)
    assert list(panels[0][1]) == ["LICA", "COMA (test)"]
    assert (local_grid / "tiny" / "junction" / "coma-test" / "seeds_0-1" / "metrics.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["reproduce", "fig9"], "unknown figure 'fig9'; choose one of: fig2"),
    (["reproduce", "fig5", "--budget", "huge"], "unknown budget 'huge'; choose one of: quick, paper"),
    (["plot", "nowhere"], "no metrics.csv in nowhere"),
])
def test_bad_input_is_a_one_line_error_with_exit_2(tmp_path, args, message):
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1  # once, not again as "error: 2"
    assert not (tmp_path / "out").exists()


@pytest.mark.xdist_group("ray")
def test_ray_without_a_cluster_is_a_one_line_error(tmp_path, monkeypatch):
    import ray

    # What ray.init raises when no cluster answers. (A real "auto" lookup would find any local
    # cluster that another test or process left running, so the refusal is simulated.)
    def refuse(address=None, **kwargs):
        raise ConnectionError(f"Could not find any running Ray instance at {address}")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    result = runner.invoke(app, ["reproduce", "fig5", "--ray", "auto", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no Ray cluster at 'auto'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
