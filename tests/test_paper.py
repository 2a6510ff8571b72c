"""The paper's Fig. 4 beside ours at equal env steps (lica.experiments.paper, ``lica vs-paper``)."""

import csv

import yaml
from typer.testing import CliRunner

from lica.cli import app
from lica.experiments import paper
from lica.run import RunDir

runner = CliRunner()


def fake_run(path, rates_per_seed, interval=320_000, hypernet_hidden=64, **changed):
    """A run directory whose seed ``i`` has test win rate ``rates_per_seed[i][k]`` at evaluation
    ``k`` (at ``k * interval`` steps plus a little, as real evaluations overshoot); its config
    the paper's but for ``hypernet_hidden`` and ``changed``."""
    run = RunDir(path)
    run.path.mkdir(parents=True)
    config = {"env": "smac:2s3z", "algo": "lica", "eval_interval": interval, "hypernet_hidden": hypernet_hidden,
              "xi": 0.06, "critic_chunk": 128, **changed}
    run.config_file.write_text(yaml.safe_dump(config))
    rows = [{"seed": s, "env_steps": k * interval + 700 * k, "updates": k, "wall_s": 0.0, "test_win_rate": r}
            for s, rates in enumerate(rates_per_seed) for k, r in enumerate(rates)]
    run.write_metrics(rows)
    return path


def test_paper_points_are_the_shared_reading_of_fig4():
    points = paper.paper_points("2s3z")
    assert points[:2] == [(1_000_000, 0.10), (2_000_000, 0.40)]
    assert paper.paper_points("2s3z", "qmix") and not paper.paper_points("no_such_map")


def test_rows_pair_our_nearest_evaluation_with_each_paper_point(tmp_path):
    # evaluations at 0, 0.32M, ..., 2.24M: 1M pairs with 0.96M (k=3), 2M with 1.92M (k=6);
    # 3M has no evaluation within 160k
    rates = [[0, 0, 0, 0.2, 0, 0, 0.5, 0.9], [0, 0, 0, 0.4, 0, 0, 0.7, 0.9], [0, 0, 0, 0.6, 0, 0, 0.3, 0.9]]
    run = fake_run(tmp_path / "run", rates)
    rows = paper.compare_rows("2s3z", [run])
    assert [(r["env_steps"], r["ours_median"], r["ours_q1"], r["ours_q3"], r["paper_median"]) for r in rows] == [
        (1_000_000, 0.4, 0.3, 0.5, 0.10), (2_000_000, 0.5, 0.4, 0.6, 0.40)]
    assert rows[0]["seeds"] == 3 and rows[0]["hypernet_hidden"] == 64 and rows[0]["changes"] == "none"


def test_vs_paper_writes_table_markdown_and_figure(tmp_path):
    run = fake_run(tmp_path / "run", [[0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]], hypernet_hidden=None)
    result = runner.invoke(app, ["vs-paper", f"2s3z={run}", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "fig4_lica_vs_paper.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == paper.COLUMNS
    assert [(r["env_steps"], r["ours_median"], r["hypernet_hidden"]) for r in rows] == [
        ("1000000", "0.3", "full"), ("2000000", "0.6", "full")]
    table = (tmp_path / "out" / "fig4_lica_vs_paper.md").read_text()
    assert "| 2s3z | 1M | 1 | full | none | 0.30 [0.30, 0.30] | 0.10 |" in table
    assert (tmp_path / "out" / "fig4_lica_vs_paper_2s3z.png").stat().st_size > 0


def test_runs_of_other_critic_widths_or_settings_get_rows_of_their_own(tmp_path):
    narrow = fake_run(tmp_path / "narrow", [[0, 0.1, 0.2, 0.3], [0, 0.1, 0.2, 0.5]])
    full = fake_run(tmp_path / "full", [[0, 0.3, 0.6, 0.9]], hypernet_hidden=None)
    changed = fake_run(tmp_path / "changed", [[0, 0.2, 0.4, 0.8]], xi=0.03, critic_steps=4)
    result = runner.invoke(app, ["vs-paper", f"2s3z={narrow}", f"2s3z={full}", f"2s3z={changed}",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "out" / "fig4_lica_vs_paper.md").read_text()
    assert "| 2s3z | 1M | 2 | 64 | none | 0.40 [0.35, 0.45] | 0.10 |" in table
    assert "| 2s3z | 1M | 1 | full | none | 0.90 [0.90, 0.90] | 0.10 |" in table
    assert "| 2s3z | 1M | 1 | 64 | critic_steps=4 xi=0.03 | 0.80 [0.80, 0.80] | 0.10 |" in table


def test_a_changed_environment_argument_is_named_by_its_key():
    config = {"env": "smac:2s3z", "algo": "lica", "xi": 0.01, "env_args": {"attack_orders": True}}
    assert paper.changes(config) == "env_args.attack_orders=True xi=0.01"
    assert paper.changes({"env": "smac:2s3z", "algo": "lica", "xi": 0.06, "env_args": {}}) == "none"


def test_vs_paper_rejects_a_map_the_paper_lacks(tmp_path):
    run = fake_run(tmp_path / "run", [[0, 0.1]])
    result = runner.invoke(app, ["vs-paper", f"3m={run}", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "has no lica curve for '3m'" in result.output
    assert not (tmp_path / "out").exists()
