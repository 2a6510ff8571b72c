"""Env steps per second of full training next to the raw vmapped environment step rate.

    python benchmarks/throughput.py --env mpe:spread-3 [--algo lica] [--seeds 1] [--updates 20]

Both are measured in this process, on this machine, after compilation: the raw rate steps
``batch_size`` environments with uniformly random available actions in a jitted ``scan``; the
training rate runs whole updates (rollout + critic and policy steps) of the algorithm's preset,
all seeds vmapped, and counts the env steps those updates' rollouts took.
The ratio (training / raw) is the figure to compare across changes and machines.
"""

import argparse
import time

import jax
import jax.numpy as jnp

from lica.config import resolve
from lica.trainer import SEED_AXIS, make_trainer, over_seeds


def raw_env_rate(env, n_envs, steps, repeats=3):
    def run(key):
        keys = jax.random.split(key, n_envs)
        obs, state, avail, env_state = jax.vmap(env.reset)(keys)

        def step(carry, key):
            env_state, avail = carry
            act_key, step_key = jax.random.split(key)
            actions = jax.random.categorical(act_key, jnp.where(avail > 0, 0.0, -1e10))
            out = jax.vmap(env.step)(jax.random.split(step_key, n_envs), env_state, actions)
            return (out[-1], out[2]), out[3]

        return jax.lax.scan(step, (env_state, avail), jax.random.split(key, steps))[1]

    run = jax.jit(run)
    jax.block_until_ready(run(jax.random.PRNGKey(0)))
    best = float("inf")
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(jax.random.PRNGKey(i + 1)))
        best = min(best, time.perf_counter() - start)
    return n_envs * steps / best


def training_rate(trainer, config, updates):
    """Env steps/s of ``updates`` whole training updates, all seeds vmapped, after compiling."""
    init = jax.jit(jax.vmap(trainer.init))
    # donated, as in training: a replay buffer is then updated in place, not copied per call
    update = jax.jit(over_seeds(trainer, lambda ts: trainer.update(ts)[0]), donate_argnums=0)
    state = update(init(jax.random.split(jax.random.PRNGKey(0), config.seeds)))
    start_steps = int(jax.block_until_ready(state).env_steps.sum())
    start = time.perf_counter()
    for _ in range(updates):
        state = update(state)
    steps = int(jax.block_until_ready(state).env_steps.sum()) - start_steps
    elapsed = time.perf_counter() - start
    return steps / elapsed, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="mpe:spread-3")
    parser.add_argument("--algo", default="lica")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--set", nargs="*", default=[], dest="sets")
    args = parser.parse_args()
    config = resolve(args.env, args.algo, sets=args.sets, seeds=args.seeds)
    trainer = make_trainer(config, seed_axis=SEED_AXIS)
    env = trainer.env
    raw = raw_env_rate(env, config.batch_size * config.seeds, env.spec.episode_limit)
    train, elapsed = training_rate(trainer, config, args.updates)
    print(f"device: {jax.devices()[0].platform}, env: {args.env}, algo: {args.algo}, seeds: {args.seeds}, "
          f"batch: {config.batch_size} episodes x {env.spec.episode_limit} steps")
    print(f"raw vmapped env steps/s:      {raw:12,.0f}")
    print(f"{args.algo} training env steps/s: {train:12,.0f}   ({args.updates} updates in {elapsed:.1f}s)")
    print(f"ratio training/raw:           {train / raw:12.3f}")


if __name__ == "__main__":
    main()
