"""Run JaxMARL's own MAPPO / IPPO SMAX baselines on one seed and write their learning curve to a CSV.

This is a reference point for our implementation: it runs JaxMARL's unmodified
``baselines/MAPPO/mappo_rnn_smax.py`` or ``baselines/IPPO/ippo_rnn_smax.py`` (loaded by path, not
copied) with their yaml config, and records what the script would send to wandb once per update.
Tested with JaxMARL commit c793d095618c6d3edfb5632802348f57b70a4b94 (baselines exported from it),
jaxmarl 0.2.0 from PyPI (its SMAX and wrappers match that commit), jax/jaxlib 0.10.2 on CPU.

It needs JaxMARL's dependencies, not ours, so run it with a separate venv's python:

    R=/work/.mirror/FLAIROx+JaxMARL/repo   # or a clone of github.com/FLAIROx/JaxMARL
    mkdir -p ~/jaxmarl-baselines && git -C $R archive HEAD baselines | tar -x -C ~/jaxmarl-baselines
    git -C $R rev-parse HEAD > ~/jaxmarl-baselines/COMMIT
    python3 -m venv ~/venvs/jaxmarl-baselines
    ~/venvs/jaxmarl-baselines/bin/pip install jax==0.10.2 jaxlib==0.10.2 jaxmarl==0.2.0 flax==0.12.8 \\
        optax==0.2.8 chex==0.1.92 numpy==2.4.6 distrax hydra-core omegaconf wandb

    ~/venvs/jaxmarl-baselines/bin/python benchmarks/jaxmarl_ppo_driver.py --script mappo \\
        --env-steps 2000000 --seed 0 --out runs/jaxmarl_mappo_2s3z_s0.csv [--set NUM_ENVS=16 ...]

Each CSV row is one update: ``env_step`` as the script logs it (env steps before that update's
rollout), ``env_steps_done`` (after it), ``win_rate`` and ``returns`` over the training episodes
that ended during the rollout, as the script computes them (empty when none ended), and
``wall_s`` since the start of the training call, compilation included, and ``cpu_s``, this
process's CPU time over the same span (all threads): on a shared core it is the better measure
of what the run costs, since wall time then includes waiting for the other processes.
"""

import argparse
import csv
import importlib.util
import math
import os
import time
import types
import warnings
from pathlib import Path

import jax
from omegaconf import OmegaConf

SCRIPTS = {  # script and its yaml config, relative to the baselines folder
    "mappo": ("MAPPO/mappo_rnn_smax.py", "MAPPO/config/mappo_homogenous_rnn_smax.yaml"),
    "ippo": ("IPPO/ippo_rnn_smax.py", "IPPO/config/ippo_rnn_smax.yaml"),
}
COLUMNS = ["update", "env_step", "env_steps_done", "win_rate", "returns", "wall_s", "cpu_s"]


def load_module(path):
    spec = importlib.util.spec_from_file_location(f"jaxmarl_baseline_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_config(path, overrides, env_steps, seed, map_name):
    os.environ.setdefault("WANDB_ENTITY", "")  # IPPO's yaml interpolates it; wandb stays off
    config = OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(overrides))
    config = OmegaConf.to_container(config, resolve=True)
    config.update(TOTAL_TIMESTEPS=env_steps, SEED=seed, MAP_NAME=map_name, WANDB_MODE="disabled")
    return config


class CsvLog:
    """Stands in for ``wandb.log`` in the script's per-update callback: one CSV row per call."""

    def __init__(self, path, config, print_every):
        self.config, self.print_every = config, print_every
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, COLUMNS)
        self.writer.writeheader()
        self.updates, self.last = 0, None
        self.restart()

    def restart(self):
        self.start, self.start_cpu = time.perf_counter(), time.process_time()

    def __call__(self, metrics):
        batch = self.config["NUM_ENVS"] * self.config["NUM_STEPS"]
        env_step = int(metrics["env_step"])
        row = {
            "update": self.updates,
            "env_step": env_step,
            "env_steps_done": env_step + batch,
            "win_rate": _number(metrics["win_rate"]),
            "returns": _number(metrics["returns"]),
            "wall_s": round(time.perf_counter() - self.start, 3),
            "cpu_s": round(time.process_time() - self.start_cpu, 3),
        }
        self.writer.writerow(row)
        self.file.flush()
        if self.updates % self.print_every == 0:
            print(_format(row), flush=True)
        self.updates, self.last = self.updates + 1, row


def _number(x):
    x = float(x)
    return "" if math.isnan(x) else round(x, 6)


def _format(row):
    return "  ".join(f"{k}={v}" for k, v in row.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", choices=SCRIPTS, required=True)
    parser.add_argument("--baselines", type=Path, default=Path("~/jaxmarl-baselines/baselines"))
    parser.add_argument("--env-steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--map", default="2s3z")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="yaml override")
    parser.add_argument("--print-every", type=int, default=10, help="print every n-th update's row")
    args = parser.parse_args()

    script_path, config_path = (args.baselines.expanduser() / p for p in SCRIPTS[args.script])
    module = load_module(script_path)
    config = load_config(config_path, args.set, args.env_steps, args.seed, args.map)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log = CsvLog(args.out, config, args.print_every)
    # The scripts' io_callback calls ``wandb.log`` through their module global ``wandb``.
    assert hasattr(module, "wandb"), f"{script_path} no longer logs through a module-level wandb"
    module.wandb = types.SimpleNamespace(log=log)
    warnings.filterwarnings("ignore", "Mean of empty slice")  # no episode ended in an update
    warnings.filterwarnings("ignore", "invalid value encountered")

    print(f"{args.script} on {args.map}, seed {args.seed}, {jax.devices()}", flush=True)
    log.restart()
    train = jax.jit(module.make_train(config))  # make_train fills in NUM_UPDATES etc.
    print(f"{config['NUM_UPDATES']} updates of {config['NUM_ENVS']} envs x {config['NUM_STEPS']} steps", flush=True)
    jax.block_until_ready(train(jax.random.PRNGKey(args.seed)))
    jax.effects_barrier()  # all callbacks have run
    total, total_cpu = time.perf_counter() - log.start, time.process_time() - log.start_cpu

    if log.last is None:
        raise SystemExit("no update ran: --env-steps is below one update (NUM_ENVS x NUM_STEPS)")
    print("final:", _format(log.last))
    rate = log.last["env_steps_done"] / total
    print(
        f"total wall {total:.1f} s (cpu {total_cpu:.1f} s) for {log.last['env_steps_done']} env steps "
        f"({rate:,.0f} steps/s incl. compile)"
    )


if __name__ == "__main__":
    main()
