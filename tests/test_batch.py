"""Cutting trailing padding off a batch (``lica.trim``) changes only the cost."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica import algos, packing, trim
from lica.config import resolve
from lica.rollout import rollout
from lica.trainer import make_trainer
from lica.trim import trim_lengths, update_trimmed


def test_trim_lengths_double_up_to_the_full_length():
    assert trim_lengths(401) == [32, 64, 128, 256, 401]
    assert trim_lengths(26) == [26]
    assert trim_lengths(64) == [32, 64]


@pytest.fixture(scope="module")
def short_episodes():
    """A uniform-policy batch on smac:3m: episodes end after ~20 of 60 allowed steps."""
    trainer = make_trainer(resolve("smac:3m", "random", sets=["batch_size=4"]))
    batch, stats, _ = rollout(trainer.env, trainer.algo, (), jax.random.PRNGKey(1), 4, greedy=False)
    assert batch.mask.shape[0] == 61 and int(jnp.max(stats["length"])) + 1 <= 32  # so it is cut to 32
    return trainer.env.spec, batch


@pytest.mark.parametrize("name", ["lica", "coma", "liir"])
def test_an_on_policy_update_on_the_cut_batch_equals_the_full_one(short_episodes, name):
    spec, batch = short_episodes
    algo = algos.make(resolve("smac:3m", name), spec)
    assert algo.on_policy
    state, key = algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(2)
    (full_state, full_metrics) = jax.jit(algo.update)(state, batch, key)
    cut_state, cut_metrics = jax.jit(lambda s, b, k: update_trimmed(algo.update, s, b, k))(state, batch, key)
    for x, y in zip(jax.tree.leaves(full_state), jax.tree.leaves(cut_state)):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-5)
    for name, value in full_metrics.items():
        # LIIR's meta_loss is (pi'/pi - 1) / lr for a tiny policy step: log pi' - log pi of two
        # numbers near -1 differing by ~1e-4 holds ~3 significant digits in float32.
        rtol = 1e-2 if name == "meta_loss" else 1e-3
        np.testing.assert_allclose(value, cut_metrics[name], rtol=rtol, atol=1e-5, err_msg=name)


def test_the_cut_under_a_seed_vmap_is_one_branch_for_all_seeds(short_episodes):
    # Every seed gets the cut the longest episode of any seed needs (a padding-only seed's
    # need of 1 step must not cut another's steps), and it is a cond, not a select of all cuts.
    spec, batch = short_episodes

    def update(state, b, key):
        return state, {"steps": jnp.sum(b.mask), "rows": jnp.float32(b.mask.shape[0])}

    pair = jax.tree.map(lambda x: jnp.stack([x, x]), batch)
    pair = pair._replace(mask=pair.mask.at[1].set(0.0))
    seeds = jax.vmap(lambda b: update_trimmed(update, (), b, None, "seeds"), axis_name="seeds")
    _, metrics = jax.jit(seeds)(pair)
    np.testing.assert_allclose(metrics["steps"], [jnp.sum(batch.mask), 0.0])
    np.testing.assert_allclose(metrics["rows"], [32, 32])
    assert " cond[" in str(jax.make_jaxpr(seeds)(pair))


@pytest.mark.parametrize("name", ["lica", "coma", "liir"])
def test_an_on_policy_update_with_episodes_packed_in_lanes_equals_the_one_on_rows(short_episodes, name):
    # Uncut (61 steps), the 4 battles of ~20 steps go two to a lane: the agents' unroll runs
    # on 2 rows instead of 4 (lica.packing).
    spec, batch = short_episodes
    algo = algos.make(resolve("smac:3m", name), spec)
    lanes = packing.pack_episodes(batch.mask)
    assert int(lanes.used) <= batch.mask.shape[0] == packing.lane_steps(61)[0]
    state, key = algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(2)
    rows_state, rows_metrics = jax.jit(algo.update)(state, batch, key)
    lanes_state, lanes_metrics = jax.jit(algo.update)(state, batch._replace(lanes=lanes), key)
    for x, y in zip(jax.tree.leaves(rows_state), jax.tree.leaves(lanes_state)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    for metric, value in rows_metrics.items():
        rtol = 1e-2 if metric == "meta_loss" else 1e-4  # LIIR's meta_loss: see the test above
        np.testing.assert_allclose(value, lanes_metrics[metric], rtol=rtol, atol=1e-6, err_msg=metric)


@pytest.mark.parametrize("name", ["vdn", "qmix", "qtran"])
def test_a_value_based_update_on_its_cut_sample_equals_the_uncut_one(short_episodes, name, monkeypatch):
    # The learners that replay whole episodes cut the batch they sample (lica.trim); with the
    # cut turned off (one length: the full one) the update must come out the same.
    spec, batch = short_episodes
    config = resolve("smac:3m", name, sets=["buffer_size=8"])
    state, key = algos.make(config, spec).init(jax.random.PRNGKey(0)), jax.random.PRNGKey(2)
    conds = lambda update: str(jax.make_jaxpr(update)(state, batch, key)).count(" cond[")
    cut_update = algos.make(config, spec).update
    cut_state, cut_metrics = jax.jit(cut_update)(state, batch, key)
    cut_conds = conds(cut_update)
    monkeypatch.setattr(trim, "trim_lengths", lambda full, shortest=32: [full])
    full_update = algos.make(config, spec).update
    full_state, full_metrics = jax.jit(full_update)(state, batch, key)
    assert cut_conds > conds(full_update), (cut_conds, conds(full_update))  # the cut: a switch over lengths
    for x, y in zip(jax.tree.leaves(full_state), jax.tree.leaves(cut_state)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    for metric, value in full_metrics.items():
        np.testing.assert_allclose(value, cut_metrics[metric], rtol=1e-4, atol=1e-6, err_msg=metric)
