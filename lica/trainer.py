"""One jitted training program per run: ``make_train(config)`` (DESIGN.md, "One data flow").

Seeds are a leading ``vmap`` axis. The host calls ``advance`` repeatedly: each call trains every
seed until its env-step count reaches the next evaluation or checkpoint point (a ``while_loop``
of updates, no Python inside); at an evaluation point ``conclude`` evaluates greedily. Between
calls the host writes metrics and checkpoints (``lica.run``). An on-policy update on whole
episodes runs on the batch cut to the steps its episodes took (``update_trimmed``).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lica import algos, envs, ops
from lica import replay as replay_lib
from lica.config import ConfigError
from lica.rollout import rollout, segment, start_runner
from lica.trim import update_trimmed


def trims(config, algo) -> bool:
    """Whether training cuts each update's batch (``update_trimmed``): on-policy updates on
    whole episodes (a segment has no padding to cut)."""
    return algo.on_policy and config.rollout == "episodes"


class TrainState(NamedTuple):
    algo: Any
    key: jax.Array
    env_steps: jax.Array
    updates: jax.Array
    runner: Any = None  # the training environments between segments (``rollout='segments'``)


def episode_sums(stats):
    """A rollout's per-environment episode stats summed over environments."""
    return jax.tree.map(lambda x: jnp.sum(x, 0), stats)


def episode_metrics(sums, prefix):
    """Means over episodes from ``episode_sums`` (``episodes`` counts them), named for
    metrics.csv; ``won`` (1 on the step a battle is won) gives the win rate."""
    n = jnp.maximum(sums["episodes"], 1.0)
    out = {f"{prefix}_return_mean": sums["return"] / n, f"{prefix}_episode_length": sums["length"] / n}
    for key, value in sums.items():
        if key == "won":
            out[f"{prefix}_win_rate"] = value / n
        elif key not in ("return", "length", "episodes"):
            out[f"{prefix}_{key}_mean"] = value / n
    return out


# The name of the seed axis that ``make_train`` vmaps over; rollouts reduce over it.
SEED_AXIS = "seeds"


class Trainer(NamedTuple):
    """The pure pieces of a run, for one seed; ``make_train`` vmaps and jits them. Built with
    ``seed_axis``, ``update`` and ``evaluate`` must run under ``over_seeds``."""

    seed_axis: str | None
    env: Any
    algo: Any
    init: Any  # key -> TrainState
    collect: Any  # (TrainState, key) -> (Batch, episode stats, runner): the rollout of one update
    update: Any  # (TrainState, active) -> (TrainState, metrics, episode sums)
    evaluate: Any  # TrainState -> metrics


def make_trainer(config, env=None, seed_axis: str | None = None) -> Trainer:
    env = env or envs.make(config.env, **config.env_args)
    algo = algos.make(config, env.spec, seed_axis)
    segments = config.rollout == "segments"
    if segments and not algo.on_policy:
        raise ConfigError(f"rollout=segments needs an on-policy algorithm (lica, coma, liir), not '{config.algo}'; "
                          "use rollout=episodes")

    def init(key):
        init_key, key = jax.random.split(key)
        runner = start_runner(env, algo, jax.random.fold_in(key, 2), config.batch_size) if segments else None
        return TrainState(algo.init(init_key), key, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), runner)

    def collect(ts, roll_key):
        """What one update learns from: whole episodes, or a segment of the ongoing ones."""
        if segments:
            return segment(env, algo, ts.algo, ts.runner, roll_key, config.segment_length)
        batch, stats, _ = rollout(env, algo, ts.algo, roll_key, config.batch_size, greedy=False, seed_axis=seed_axis,
                                   narrow=config.narrow_tail)
        return batch, stats, None

    def update(ts, active=True):
        """One rollout (``collect``) and one algorithm update. An inactive seed (one that has
        reached its evaluation point while others train on) hands the algorithm an all-padding
        batch, so its replay buffer stays as it was; ``make_train`` then keeps the rest of its
        state, the environments between segments too. Returns the new state, the algorithm's
        metrics and the batch's ``episode_sums``."""
        key, roll_key, update_key = jax.random.split(ts.key, 3)
        batch, stats, runner = collect(ts, roll_key)
        batch = batch._replace(mask=batch.mask * active)
        if trims(config, algo):
            algo_state, metrics = update_trimmed(algo.update, ts.algo, batch, update_key, seed_axis)
        else:
            algo_state, metrics = algo.update(ts.algo, batch, update_key)
        steps = ts.env_steps + jnp.sum(batch.mask).astype(jnp.int32)
        ts = TrainState(algo_state, key, steps, ts.updates + 1, runner)
        return ts, metrics, episode_sums(stats)

    def evaluate(ts):
        """Greedy whole episodes from fresh resets, however training collects its batches."""
        key = jax.random.fold_in(ts.key, 1)  # evaluation never advances the training key
        _, stats, _ = rollout(env, algo, ts.algo, key, config.eval_episodes, greedy=True, seed_axis=seed_axis,
                            narrow=config.narrow_tail)
        return episode_metrics(episode_sums(stats), "test")

    return Trainer(seed_axis, env, algo, init, collect, update, evaluate)


def over_seeds(trainer, fn):
    """``fn`` (one of the trainer's per-seed functions) vmapped over a leading seed axis."""
    return jax.vmap(fn, axis_name=trainer.seed_axis)


def keep_active(active, new, old):
    """``new`` for the seeds where ``active``, ``old`` elsewhere (leaves ``[seeds, ...]``).

    Replay buffers are taken from ``new`` as they are: an inactive seed wrote nothing to its own
    (``Trainer.update``), and selecting between two buffers would copy gigabytes per update.
    """

    def pick(n, o):
        if isinstance(n, replay_lib.Replay):
            return n
        return ops.where_leading(active, n, o)

    return jax.tree.map(pick, new, old, is_leaf=lambda x: isinstance(x, replay_lib.Replay))


class Interval(NamedTuple):
    """One evaluation interval in progress, per seed: the env step where it ends and what its
    updates have summed so far. A checkpoint between two evaluations holds it, so that a resumed
    run writes the row the uninterrupted run would have written."""

    target: jax.Array  # the seed's next multiple of ``eval_interval`` (it evaluates there or at the budget)
    total: Any  # the algorithm's metrics summed over the interval's updates
    sums: Any  # the training episodes' ``episode_sums``, summed
    count: jax.Array  # updates in the interval (0 for a seed that had reached the budget)


def end(config, interval):
    """Each seed's evaluation point: its interval's target, or the budget if that comes first."""
    return jnp.minimum(interval.target, config.env_steps)


def make_intervals(trainer, config):
    """``(begin, advance, conclude)`` over the seed-batched state.

    * ``begin(ts)``: an empty ``Interval`` ending at each seed's next evaluation point: the
      next multiple of ``eval_interval``, or the budget if that comes first (``end``; the
      budget is applied as the interval runs, so that a resumed run may raise it).
    * ``advance(ts, interval)``: train until every seed reaches its interval's end or, sooner,
      its next multiple of ``checkpoint_interval``, so that the host can checkpoint between
      evaluations. Splitting an interval this way leaves every seed's updates as they were.
    * ``conclude(ts, interval)``: the interval's metrics: the algorithm's averaged over its
      updates, the ``train_*`` episode metrics over the training episodes that ended in it
      (``train_episodes`` counts them), the greedy evaluation, and ``interval_updates``.

    The loop runs while any seed is short of its stop, all seeds in lockstep (a ``vmap`` of a
    per-seed ``while_loop`` would select the whole state, replay buffers included, every step).
    """
    update = jax.jit(over_seeds(trainer, trainer.update))  # one trace serves begin and advance
    evaluate = over_seeds(trainer, trainer.evaluate)

    def begin(ts):
        target = (ts.env_steps // config.eval_interval + 1) * config.eval_interval
        _, metrics, sums = jax.eval_shape(update, ts, ts.env_steps < target)
        zeros = lambda tree: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), tree)  # noqa: E731
        return Interval(target, zeros(metrics), zeros(sums), jnp.zeros(ts.env_steps.shape, jnp.int32))

    def advance(ts, interval):
        stop = end(config, interval)
        if config.checkpoint_interval:
            every = config.checkpoint_interval
            stop = jnp.minimum(stop, (ts.env_steps // every + 1) * every)

        def body(carry):
            ts, iv = carry
            active = ts.env_steps < stop
            new, metrics, sums = update(ts, active)
            ts = keep_active(active, new, ts)
            add = lambda t, m: t + jnp.where(active, m, 0)  # noqa: E731
            iv = Interval(iv.target, jax.tree.map(add, iv.total, metrics), jax.tree.map(add, iv.sums, sums),
                          iv.count + active)
            return ts, iv

        return jax.lax.while_loop(lambda c: jnp.any(c[0].env_steps < stop), body, (ts, interval))

    def conclude(ts, interval):
        means = jax.tree.map(lambda x: x / jnp.maximum(interval.count, 1), interval.total)
        return {**means, **episode_metrics(interval.sums, "train"), "train_episodes": interval.sums["episodes"],
                **evaluate(ts), "interval_updates": interval.count}

    return begin, advance, conclude


class Program(NamedTuple):
    """A run's jitted functions over ``config.seeds`` seeds (``make_train``)."""

    config: Any
    trainer: Trainer
    init: Any  # () -> TrainState
    begin: Any  # TrainState -> Interval
    advance: Any  # (TrainState, Interval) -> (TrainState, Interval); consumes (donates) both
    conclude: Any  # (TrainState, Interval) -> metrics of the finished interval
    evaluate: Any  # TrainState -> greedy test metrics

    def reached(self, ts, interval) -> bool:
        """Whether every seed has reached the end of ``interval`` (time to ``conclude``)."""
        return bool(jnp.all(ts.env_steps >= end(self.config, interval)))

    def train_interval(self, ts):
        """Train every seed to its next evaluation point and evaluate: ``(ts, metrics)``, the
        loop ``lica.run.train_run`` runs with checkpoints and metrics in between."""
        interval = self.begin(ts)
        while not self.reached(ts, interval):
            ts, interval = self.advance(ts, interval)
        return ts, self.conclude(ts, interval)


def make_train(config, env=None) -> Program:
    """The run's ``Program``: ``init``, ``begin``, ``advance``, ``conclude`` and ``evaluate``
    jitted over ``config.seeds`` seeds."""
    trainer = make_trainer(config, env, seed_axis=SEED_AXIS)
    seeds = jnp.arange(config.seeds) + config.seed
    init = jax.jit(lambda: jax.vmap(lambda s: trainer.init(jax.random.PRNGKey(s)))(seeds))
    begin, advance, conclude = make_intervals(trainer, config)
    return Program(config, trainer, init, jax.jit(begin), jax.jit(advance, donate_argnums=(0, 1)), jax.jit(conclude),
                   jax.jit(over_seeds(trainer, trainer.evaluate)))
