"""Env steps per second of full training next to the raw vmapped environment step rate, and
where an update's time goes (a roofline).

    python benchmarks/throughput.py --env mpe:spread-3 [--algo lica] [--seeds 1] [--updates 20]
    python benchmarks/throughput.py --run RUN_DIR [--set narrow_tail=true]

Everything is measured in this process, on this machine, after compilation: the raw rate steps
``batch_size`` environments with uniformly random available actions in a jitted ``scan``, their
observations and state built (and summed, so that XLA cannot skip them); the
training rate runs whole updates (rollout + critic and policy steps) of the algorithm's preset,
all seeds vmapped, and counts the env steps those updates' rollouts took. Both start from fresh
networks, or with ``--run`` from a run's last checkpoint (its config, seeds and trained policy):
how long battles last, and so how much of a rollout is padding, changes as a policy learns.
The ratio (training / raw) is the figure to compare across changes and machines.

The breakdown (one seed) times the rollout of one update (``Trainer.collect``) against the raw
rate, and again with uniformly random actions (the ``random`` algorithm: no network, so the
difference is the agents' forward pass), and the algorithm's update on that batch as training
runs it (``update_trimmed``: cut to the longest episode, the agents' unroll on episodes packed
into half the rows, LICA's critic on the valid steps only) with its FLOPs spent on padding.
Beside it, the same update computed densely on every step of the cut batch: its share of padded
(invalid) steps, its matrix-product FLOPs counted on its jaxpr (``jaxpr_matmul_flops``), and the
GFLOP/s achieved against this machine's dense float32 matmul rate, measured here too.
"""

import argparse
import math
import time

import jax
import jax.numpy as jnp
from jax.extend import core as jex_core

from lica import ops, packing
from lica.config import parse_set, resolve
from lica.evaluation import load_run
from lica.trainer import SEED_AXIS, make_trainer, over_seeds, trims
from lica.trim import trim_choice, trim_lengths, update_trimmed


def best_time(fn, *args, repeats=5):
    """The fastest of ``repeats`` calls of the jitted ``fn``, after one to compile."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(n=1024):
    """This machine's dense float32 matmul rate in GFLOP/s (an ``n x n`` product)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    return 2 * n**3 / best_time(jax.jit(lambda x: x @ x), a) / 1e9


def rollout_rates(trainer, config, ts=None, rollouts=8):
    """``rollouts`` consecutive rollouts of one update each (``Trainer.collect``, one seed) in
    one compiled loop, as training runs them (a segment is short: timed alone, its call would
    cost more than its steps): ``((valid env steps/s, env steps taken/s), state, batch)``. A
    whole-episode rollout steps every environment until the longest episode ends (as PyMARL's
    runner does): the finished ones step too, their steps being padding. ``ts``: one seed's
    training state (default: fresh)."""
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(0)) if ts is None else ts

    def one(ts, key):
        batch, _, runner = trainer.collect(ts, key)
        valid = jnp.sum(batch.mask)  # a segment has no padding: every step taken is valid
        taken = valid if runner is not None else jnp.sum(jnp.any(batch.mask > 0, axis=1)) * batch.mask.shape[1]
        steps = jnp.stack([valid, taken])
        checksum = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(batch))  # all of it is computed
        return (ts._replace(runner=runner) if runner is not None else ts), (steps, checksum)

    many = jax.jit(lambda ts, key: jax.tree.map(lambda x: x.sum(0),
                                                jax.lax.scan(one, ts, jax.random.split(key, rollouts))[1]))
    valid, taken = (float(x) for x in many(ts, jax.random.PRNGKey(1))[0])
    seconds = best_time(many, ts, jax.random.PRNGKey(1))
    batch, _, _ = jax.jit(trainer.collect)(ts, jax.random.PRNGKey(1))
    return (valid / seconds, taken / seconds), ts, batch


def sub_jaxprs(eqn):
    """The jaxprs an equation runs (a loop's body, a branch, a called function)."""
    for value in eqn.params.values():
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(v, (jex_core.Jaxpr, jex_core.ClosedJaxpr)):
                yield getattr(v, "jaxpr", v)


def jaxpr_matmul_flops(jaxpr, unroll_length: int = -1, in_unroll: bool = False) -> tuple[float, float]:
    """The FLOPs of every matrix product in ``jaxpr`` and the part of them inside a ``scan`` of
    ``unroll_length`` steps (the agents' unroll over a batch, forward and backward): a ``scan``'s
    body times its length, the costlier branch of a ``cond``, a ``while`` body once. (XLA's cost
    analysis counts every loop body once, so it missed nearly all of a recurrent unroll.)"""
    total = unrolled = 0.0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contracted, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            flops = 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contracted)
            total, unrolled = total + flops, unrolled + flops * in_unroll
            continue
        scan = eqn.primitive.name == "scan"
        inside = in_unroll or (scan and eqn.params["length"] == unroll_length)
        counts = [jaxpr_matmul_flops(inner, unroll_length, inside) for inner in sub_jaxprs(eqn)]
        if not counts:
            continue
        if eqn.primitive.name == "cond":
            counts = [max(counts)]
        times = eqn.params["length"] if scan else 1
        total += times * sum(c[0] for c in counts)
        unrolled += times * sum(c[1] for c in counts)
    return total, unrolled


def padding_share(config, batch, flops, unrolled):
    """The share of the update's matrix-product FLOPs, as training runs it, spent on padding:
    the unroll on ``lica.packing``'s lanes (the shortest compiled that holds the fullest, or
    every row), LICA's critic on chunks of valid steps, everything else per step of the cut
    batch. Estimated from the dense update's FLOPs (``flops``, ``unrolled`` of them in the
    unroll), each part's being proportional to the rows x steps it computes."""
    steps, rows = batch.mask.shape
    valid = float(batch.mask.sum())
    used = int(packing.pack_episodes(batch.mask).used)
    capacity = next((c for c in packing.lane_steps(steps) if c >= used), None)
    lane_share = packing.lane_count(rows) * capacity / (steps * rows) if capacity else 1.0
    chunk = getattr(config, "critic_chunk", 0)
    if chunk:  # the steps ops.on_valid_rows computes: whole chunks, then quarter chunks
        whole, small, smalls = ops.chunks_for(int(valid), chunk)
        per_step = (whole * chunk + smalls * small) / (steps * rows)
    else:
        per_step = 1.0
    trained = unrolled * lane_share + (flops - unrolled) * per_step
    return 1.0 - flops * valid / (steps * rows) / trained, trained


def breakdown(trainer, config, ts=None):
    """Rollout steps/s, the update's seconds as training runs it, and the dense update on the
    cut batch (every step, padding included): its seconds, padding share, GFLOP and GFLOP/s;
    and the padding share of the update as trained (``padding_share``)."""
    rates, ts, batch = rollout_rates(trainer, config, ts)
    valid = float(batch.mask.sum())
    key = jax.random.PRNGKey(2)
    trimmed = trims(config, trainer.algo)
    trained = jax.jit(lambda s, b, k: update_trimmed(trainer.algo.update, s, b, k) if trimmed else
                      trainer.algo.update(s, b, k))
    update_s = best_time(trained, ts.algo, batch, key)
    if trimmed:  # cut as lica.trim.update_trimmed cuts it
        length = trim_lengths(batch.mask.shape[0])[int(trim_choice(batch.mask)[0])]
        batch = jax.tree.map(lambda x: x[:length], batch)
    padded = batch.mask.shape[0] * batch.mask.shape[1]
    dense = jax.jit(trainer.algo.update)  # no Batch.valid_steps nor lanes: every step is computed
    flops, unrolled = jaxpr_matmul_flops(jax.make_jaxpr(trainer.algo.update)(ts.algo, batch, key).jaxpr,
                                         batch.mask.shape[0])
    dense_s = best_time(dense, ts.algo, batch, key)
    share, trained_flops = padding_share(config, batch, flops, unrolled) if trimmed else (0.0, flops)
    return (rates, update_s, dense_s, 1.0 - valid / padded, flops / 1e9, flops / dense_s / 1e9,
            share, trained_flops / 1e9)


def raw_env_rate(env, n_envs, steps, repeats=3):
    def run(key):
        keys = jax.random.split(key, n_envs)
        obs, state, avail, env_state = jax.vmap(env.reset)(keys)

        def step(carry, key):
            env_state, avail = carry
            act_key, step_key = jax.random.split(key)
            actions = jax.random.categorical(act_key, jnp.where(avail > 0, 0.0, -1e10))
            obs, state, avail, reward, *_, env_state = jax.vmap(env.step)(jax.random.split(step_key, n_envs),
                                                                       env_state, actions)
            return (env_state, avail), (reward, jnp.sum(obs) + jnp.sum(state))  # observations are built too

        return jax.lax.scan(step, (env_state, avail), jax.random.split(key, steps))[1]

    run = jax.jit(run)
    jax.block_until_ready(run(jax.random.PRNGKey(0)))
    best = float("inf")
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(jax.random.PRNGKey(i + 1)))
        best = min(best, time.perf_counter() - start)
    return n_envs * steps / best


def training_rate(trainer, config, updates, state=None):
    """Env steps/s of ``updates`` whole training updates, all seeds vmapped, after compiling,
    from ``state`` (every seed's; default: fresh). ``state`` is consumed."""
    if state is None:
        state = jax.jit(jax.vmap(trainer.init))(jax.random.split(jax.random.PRNGKey(0), config.seeds))
    # donated, as in training: a replay buffer is then updated in place, not copied per call
    update = jax.jit(over_seeds(trainer, lambda ts: trainer.update(ts)[0]), donate_argnums=0)
    state = update(state)
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
    parser.add_argument("--run", help="start from this run's last checkpoint, with its config (--env, --algo and "
                        "--seeds are the run's; --set still applies)")
    args = parser.parse_args()
    if args.run:
        config, _, state = load_run(args.run, **parse_set(args.sets))
        args.env, args.algo, args.seeds = config.env, config.algo, config.seeds
        first = jax.tree.map(lambda x: x[0], state)  # seed 0's, for the breakdown (training consumes state)
    else:
        config, state, first = resolve(args.env, args.algo, sets=args.sets, seeds=args.seeds), None, None
    trainer = make_trainer(config, seed_axis=SEED_AXIS)
    env = trainer.env
    raw = raw_env_rate(env, config.batch_size * config.seeds, env.spec.episode_limit)
    train, elapsed = training_rate(trainer, config, args.updates, state)
    print(f"device: {jax.devices()[0].platform}, env: {args.env}, algo: {args.algo}, seeds: {args.seeds}, "
          f"batch: {config.batch_size} episodes x {env.spec.episode_limit} steps"
          + (f", from {args.run} at {int(first.env_steps):,} env steps" if args.run else ""))
    print(f"raw vmapped env steps/s:      {raw:12,.0f}")
    print(f"{args.algo} training env steps/s: {train:12,.0f}   ({args.updates} updates in {elapsed:.1f}s)")
    print(f"ratio training/raw:           {train / raw:12.3f}")
    (rollout, stepped), update_s, dense_s, padding, gflop, gflops, share, trained_gflop = breakdown(
        make_trainer(config), config, first)
    raw_one = raw_env_rate(env, config.batch_size, env.spec.episode_limit)
    peak = matmul_peak()
    print(f"breakdown, one seed: rollout env steps/s {rollout:,.0f} = {rollout / raw_one:.2f} of raw ({raw_one:,.0f}); "
          f"counting the finished environments' steps {stepped:,.0f} = {stepped / raw_one:.2f} of raw")
    if args.algo != "random":  # the same rollout without a network: what the agents' forward pass costs
        random_config = resolve(args.env, "random", sets=[s for s in args.sets if s.startswith("env_args.")],
                                batch_size=config.batch_size)
        (_, random_stepped), _, _ = rollout_rates(make_trainer(random_config), random_config)
        print(f"the same rollout with uniformly random actions (no network): {random_stepped / raw_one:.2f} of raw "
              "per env step taken")
    print(f"update {update_s * 1e3:.1f} ms as training runs it: about {trained_gflop:.2f} GFLOP, {share:.0%} of "
          f"them on padding, at {trained_gflop / update_s:.1f} GFLOP/s")
    print(f"dense update (every step of the cut batch, {padding:.0%} of them padding): {dense_s * 1e3:.1f} ms "
          f"= {dense_s / update_s:.2f}x the update")
    print(f"roofline of the dense update: {gflop:.2f} GFLOP at {gflops:.1f} GFLOP/s = {gflops / peak:.2f} of this "
          f"machine's float32 matmul rate ({peak:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
