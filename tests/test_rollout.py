"""Rollouts stop once every episode has ended; what they return does not depend on that."""

import jax
import numpy as np

from lica.config import resolve
from lica.rollout import rollout, step_widths
from lica.trainer import SEED_AXIS, make_trainer


def test_rollout_alone_and_vmapped_over_seeds_agree_and_pad_with_zeros():
    # smac:3m under a uniform policy: episodes end after ~20 of the 60 allowed steps, at
    # different times in different environments and seeds.
    trainer = make_trainer(resolve("smac:3m", "random", sets=["batch_size=4"]), seed_axis=SEED_AXIS)
    env, algo = trainer.env, trainer.algo
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    alone = [jax.jit(lambda k: rollout(env, algo, None, k, 4, greedy=False)[:2])(k) for k in keys]
    together = jax.jit(jax.vmap(lambda k: rollout(env, algo, None, k, 4, greedy=False, seed_axis=SEED_AXIS)[:2],
                                axis_name=SEED_AXIS))(keys)
    for i, one in enumerate(alone):  # equal up to float rounding (vmapped XLA fuses differently)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b[i], rtol=1e-5, atol=1e-5), one, together)

    batch, stats = alone[0]
    lengths = np.asarray(stats["length"])
    assert 0 < lengths.max() < env.spec.episode_limit  # some padding to check
    steps = np.arange(env.spec.episode_limit + 1)[:, None]
    np.testing.assert_array_equal(np.asarray(batch.mask), (steps < lengths).astype(np.float32))
    padding = steps >= lengths  # [T+1, B]: every field is 0 after each episode's last step
    for field in ("obs", "state", "avail", "actions", "probs", "reward", "terminated"):
        values = np.asarray(getattr(batch, field))
        assert not np.any(values[padding]), field


def test_stepping_only_the_running_environments_returns_what_stepping_all_does():
    # 16 battles of smac:3m per seed, 2 seeds: narrowed, once at most 4 run in every seed, the
    # rollout steps 4 of them (the running ones first) instead of all 16.
    trainer = make_trainer(resolve("smac:3m", "random", sets=["batch_size=16"]), seed_axis=SEED_AXIS)
    env, algo = trainer.env, trainer.algo
    keys = jax.random.split(jax.random.PRNGKey(5), 2)

    def run(narrow):
        one = lambda k: rollout(env, algo, None, k, 16, greedy=False, seed_axis=SEED_AXIS, narrow=narrow)[:2]  # noqa: E731
        return jax.jit(jax.vmap(one, axis_name=SEED_AXIS))(keys)

    assert step_widths(16) == [4, 16]
    narrowed, lockstep = run(True), run(False)
    lengths = np.asarray(lockstep[1]["length"])  # [seeds, 16]
    running = np.array([(lengths > t).sum(axis=1).max() for t in range(env.spec.episode_limit)])
    assert np.any((running > 0) & (running <= 4)) and np.any(running > 4)  # both widths were used
    np.testing.assert_array_equal(np.asarray(narrowed[0].mask), np.asarray(lockstep[0].mask))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), narrowed, lockstep)


def test_narrow_tail_reaches_the_training_and_the_evaluation_rollout():
    def switches(narrow):  # conditionals in the traced programs (narrowing adds a lax.switch to each)
        config = resolve("smac:3m", "random", sets=["batch_size=16", "eval_episodes=16", f"narrow_tail={narrow}"])
        trainer = make_trainer(config)
        ts = trainer.init(jax.random.PRNGKey(0))
        collect = jax.make_jaxpr(lambda ts: trainer.collect(ts, ts.key)[0])(ts)
        return str(collect).count("cond["), str(jax.make_jaxpr(trainer.evaluate)(ts)).count("cond[")

    narrowed, lockstep = switches(True), switches(False)
    assert narrowed[0] > lockstep[0] and narrowed[1] > lockstep[1], (narrowed, lockstep)
