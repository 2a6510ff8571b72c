"""One jitted training program per run: ``make_train(config)`` (DESIGN.md, "One data flow").

Seeds are a leading ``vmap`` axis. The host calls ``chunk`` repeatedly: each call trains every
seed until its env-step count reaches the next evaluation point (a ``while_loop`` of updates,
no Python inside), then evaluates greedily. Between chunks the host writes metrics and
checkpoints (``lica.run``).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lica import algos, envs
from lica.rollout import rollout


class TrainState(NamedTuple):
    algo: Any
    key: jax.Array
    env_steps: jax.Array
    updates: jax.Array


def episode_metrics(stats, prefix):
    """Means over episodes of a rollout's per-episode stats, named for metrics.csv."""
    out = {f"{prefix}_return_mean": jnp.mean(stats["return"]),
           f"{prefix}_episode_length": jnp.mean(stats["length"])}
    for key, value in stats.items():
        if key == "won":
            out[f"{prefix}_win_rate"] = jnp.mean(value > 0)
        elif key not in ("return", "length"):
            out[f"{prefix}_{key}_mean"] = jnp.mean(value)
    return out


class Trainer(NamedTuple):
    """The pure pieces of a run, for one seed; ``make_train`` vmaps and jits them."""

    env: Any
    algo: Any
    init: Any  # key -> TrainState
    update: Any  # TrainState -> (TrainState, metrics)
    evaluate: Any  # TrainState -> metrics
    chunk: Any  # TrainState -> (TrainState, metrics): train to the next evaluation, evaluate


def make_trainer(config, env=None) -> Trainer:
    env = env or envs.make(config.env, **config.env_args)
    algo = algos.make(config, env.spec)

    def init(key):
        init_key, key = jax.random.split(key)
        return TrainState(algo.init(init_key), key, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def update(ts):
        key, roll_key, update_key = jax.random.split(ts.key, 3)
        batch, stats, _ = rollout(env, algo, ts.algo, roll_key, config.batch_size, greedy=False)
        algo_state, metrics = algo.update(ts.algo, batch, update_key)
        steps = ts.env_steps + jnp.sum(batch.mask).astype(jnp.int32)
        ts = TrainState(algo_state, key, steps, ts.updates + 1)
        return ts, {**metrics, **episode_metrics(stats, "train")}

    def evaluate(ts):
        key = jax.random.fold_in(ts.key, 1)  # evaluation never advances the training key
        _, stats, _ = rollout(env, algo, ts.algo, key, config.eval_episodes, greedy=True)
        return episode_metrics(stats, "test")

    metrics_shape = jax.eval_shape(lambda: update(init(jax.random.PRNGKey(0)))[1])

    def chunk(ts):
        """Update until the next evaluation point (a multiple of ``eval_interval``, at most the
        budget), then evaluate. Metrics are averages over the chunk's updates; ``chunk_updates``
        is 0 for a seed that had already reached the budget."""
        next_eval = jnp.minimum((ts.env_steps // config.eval_interval + 1) * config.eval_interval,
                                config.env_steps)

        def body(carry):
            ts, total, count = carry
            ts, metrics = update(ts)
            return ts, jax.tree.map(jnp.add, total, metrics), count + 1

        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics_shape)
        ts, total, count = jax.lax.while_loop(lambda c: c[0].env_steps < next_eval, body, (ts, zeros, 0))
        means = jax.tree.map(lambda x: x / jnp.maximum(count, 1), total)
        return ts, {**means, **evaluate(ts), "chunk_updates": count}

    return Trainer(env, algo, init, update, evaluate, chunk)


def make_train(config, env=None):
    """``(init, chunk, evaluate)`` jitted and vmapped over ``config.seeds`` seeds."""
    trainer = make_trainer(config, env)
    seeds = jnp.arange(config.seeds) + config.seed
    init = jax.jit(lambda: jax.vmap(lambda s: trainer.init(jax.random.PRNGKey(s)))(seeds))
    chunk = jax.jit(jax.vmap(trainer.chunk))
    evaluate = jax.jit(jax.vmap(trainer.evaluate))
    return trainer, init, chunk, evaluate
