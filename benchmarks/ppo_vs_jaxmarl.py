"""Our IPPO and MAPPO beside JaxMARL's own scripts on SMAX, on the same core, one after another.

    python benchmarks/ppo_vs_jaxmarl.py [--algos mappo ippo] [--env-steps 2000000] [--map 2s3z]
        [--core 0] [--jaxmarl-python ~/venvs/jaxmarl-baselines/bin/python] [--out ~/runs/ppo_vs_jaxmarl]

JaxMARL's side runs ``benchmarks/jaxmarl_ppo_driver.py`` in a separate virtual environment (its
docstring has the setup); ours runs ``lica train --algo {mappo,ippo}`` with the presets, which
are JaxMARL's SMAX settings. Both are pinned to ``--core`` with ``taskset``. The curves compare
the win rate of *training* episodes (what JaxMARL's scripts log), ours averaged over each
evaluation interval of 10 updates; our greedy test win rate is listed too. Steps per second are
env steps over CPU seconds (compilation included; ours: the whole ``lica train`` process,
JaxMARL's: the training call, as the driver measures it), so that another process on the core
does not count against either side. Finished runs already in ``--out`` are read, not rerun, so
the pairs may run on two cores at once (``--algos mappo --core 0`` and ``--algos ippo --core 1``)
and a last call with both only draws.

Writes ``curves.csv`` (implementation, algo, env_steps, train_win_rate, test_win_rate),
``summary.md`` and ``curves.png`` into ``--out``.
"""

import argparse
import csv
import resource
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
UPDATE = 128 * 128  # env steps per update of both implementations' SMAX settings


def timed(command):
    """Run ``command``; return the CPU seconds (user + system) it took, children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_jaxmarl(args, algo, out):
    """JaxMARL's script through the driver; a finished CSV of an earlier call is read again.
    Its CPU seconds are the driver's own (the training call, compilation included)."""
    csv_path = out / f"jaxmarl_{algo}.csv"
    last = list(csv.DictReader(open(csv_path)))[-1] if csv_path.exists() else None
    done = last is not None and int(last["env_steps_done"]) > args.env_steps - UPDATE
    if not done:
        subprocess.run(["taskset", "-c", str(args.core), str(Path(args.jaxmarl_python).expanduser()),
                        str(HERE / "jaxmarl_ppo_driver.py"), "--script", algo, "--env-steps", str(args.env_steps),
                        "--map", args.map, "--seed", str(args.seed), "--out", str(csv_path)], check=True)
    table = list(csv.DictReader(open(csv_path)))
    rows = [(int(r["env_steps_done"]), float(r["win_rate"]) if r["win_rate"] else None, None) for r in table]
    return rows, float(table[-1]["cpu_s"])


def run_ours(args, algo, out):
    """``lica train``; a finished run of an earlier call (with its CPU seconds) is read again."""
    run_dir = out / f"lica_{algo}"
    cpu_file = run_dir / "cpu_s.txt"
    if not cpu_file.exists():
        cpu = timed(["taskset", "-c", str(args.core), str(Path(sys.executable).parent / "lica"), "train", "--env",
                     f"smac:{args.map}", "--algo", algo, "--seeds", "1", "--set", f"seed={args.seed}", "--env-steps",
                     str(args.env_steps), "--set", f"eval_interval={10 * UPDATE}", "--out", str(run_dir),
                     "--overwrite"])
        cpu_file.write_text(f"{cpu:.1f}\n")
    cpu = float(cpu_file.read_text())
    rows = [(int(r["env_steps"]), float(r["train_win_rate"]) if r["train_win_rate"] else None,
             float(r["test_win_rate"])) for r in csv.DictReader(open(run_dir / "metrics.csv"))]
    return rows, cpu


def first_reaching(rows, level):
    """The first env step whose training win rate is at least ``level`` (None if never)."""
    return next((steps for steps, win, _ in rows if win is not None and win >= level), None)


def at(rows, steps):
    """The training win rate of the last row at or before ``steps``."""
    before = [win for s, win, _ in rows if s <= steps and win is not None]
    return before[-1] if before else None


def summary(results, args):
    lines = [f"# Our IPPO/MAPPO beside JaxMARL's on SMAX {args.map} (seed {args.seed}, one core)", "",
             "| algo | implementation | training win rate 0.8 at | at 1M | at 2M | last greedy test | "
             "env steps / CPU s |", "|---|---|---|---|---|---|---|"]
    fmt = lambda x: "never" if x is None else f"{x:.2f}" if isinstance(x, float) else f"{x / 1e6:.2f}M"  # noqa: E731
    for (impl, algo), (rows, cpu) in results.items():
        test = [t for _, _, t in rows if t is not None]
        lines.append(f"| {algo} | {impl} | {fmt(first_reaching(rows, 0.8))} | {fmt(at(rows, 1_000_000))} | "
                     f"{fmt(at(rows, 2_000_000))} | {fmt(test[-1]) if test else '-'} | {rows[-1][0] / cpu:,.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["mappo", "ippo"], choices=["mappo", "ippo"])
    parser.add_argument("--env-steps", type=int, default=2_000_000)
    parser.add_argument("--map", default="2s3z")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--jaxmarl-python", default="~/venvs/jaxmarl-baselines/bin/python")
    parser.add_argument("--out", type=Path, default=Path("~/runs/ppo_vs_jaxmarl"))
    args = parser.parse_args()
    out = args.out.expanduser()
    out.mkdir(parents=True, exist_ok=True)

    results = {}
    for algo in args.algos:
        results["JaxMARL", algo] = run_jaxmarl(args, algo, out)
        results["lica", algo] = run_ours(args, algo, out)

    with open(out / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["implementation", "algo", "env_steps", "train_win_rate", "test_win_rate"])
        for (impl, algo), (rows, _) in results.items():
            writer.writerows([impl, algo, *row] for row in rows)
    (out / "summary.md").write_text(summary(results, args))
    print((out / "summary.md").read_text())

    fig, axes = plt.subplots(1, len(args.algos), figsize=(5 * len(args.algos), 3.5), squeeze=False)
    for ax, algo in zip(axes[0], args.algos):
        for impl in ("JaxMARL", "lica"):
            rows = [(s, w) for s, w, _ in results[impl, algo][0] if w is not None]
            ax.plot([s / 1e6 for s, _ in rows], [w for _, w in rows], label=f"{impl} (training episodes)")
        ax.set(title=f"{algo.upper()} on SMAX {args.map}", xlabel="env steps (M)", ylabel="win rate", ylim=(0, 1.02))
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)


if __name__ == "__main__":
    main()
