"""Whole episodes packed into fewer rows for the agents' unroll (``lica.packing``) give the
outputs and gradients of the unroll on the batch as it is."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lica
from examples.corridor import Corridor
from lica import packing
from lica.algos.pymarl.common import unroll
from lica.batch import Batch
from lica.nets import make_agent_policy
from lica.trim import update_trimmed


def test_longest_first_into_the_least_filled_lane_by_hand():
    # slots (length + 1) 10, 5, 5, 3 in 2 lanes: 10 -> lane 0; 5 -> lane 1; 5 -> lane 1 (5 < 10);
    # 3 -> lane 0 (10 = 10, the first)
    lanes = packing.pack(jnp.array([4, 9, 2, 4]), 2)
    np.testing.assert_array_equal(lanes.lane, [1, 0, 0, 1])
    np.testing.assert_array_equal(lanes.offset, [0, 0, 10, 5])
    assert int(lanes.used) == 13


def test_best_fit_where_balancing_overflows_by_hand():
    # slots 3, 3, 2, 2, 2 in 2 lanes: balanced, 3 | 3, then 2 | 2, then 2 on lane 0: 7 steps;
    # best fit within 6 steps: 3 + 3 on lane 0, then 2 + 2 + 2 on lane 1: 6
    lengths = jnp.array([2, 2, 1, 1, 1])
    assert int(packing.pack(lengths, 2).used) == 7
    lanes = packing.pack(lengths, 2, (0, 6))
    np.testing.assert_array_equal(lanes.lane, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(lanes.offset, [0, 3, 0, 2, 4])
    assert int(lanes.used) == 6
    # where best fit ends later (slots 3, 3, 2, 2 fill 6 | 4), the balanced packing (5 | 5) stays
    assert int(packing.pack(jnp.array([2, 2, 1, 1]), 2, (0, 6)).used) == 5


def test_no_lanes_for_one_step_episodes():
    mask = jnp.array([[1.0] * 8, [0.0] * 8])  # the traffic junction's: one step, its final observation
    assert int(packing.pack_episodes(mask).used) == 4  # 8 episodes of 2 steps in 4 lanes, so ...
    assert packing.lane_steps(2) == []  # ... lanes of 2, 3 and 3 steps would never be taken: none
    assert packing.lane_steps(3) == [3, 4, 5]  # two 1-step episodes fit in 4

    def lanes_set(mask):  # what update_trimmed hands the update (only the mask matters here)
        zeros = jnp.zeros(mask.shape)
        batch = Batch(zeros, zeros, zeros, zeros, zeros, zeros, zeros, mask)
        return update_trimmed(lambda s, b, k: b.lanes is not None, None, batch, None)

    assert not lanes_set(mask)
    assert lanes_set(jnp.concatenate([mask, jnp.zeros((2, 8))]))  # 4 steps: lanes of 4, 5, 6


@pytest.mark.parametrize("high", [5, 50])
def test_packed_episodes_never_overlap_nor_overflow(high):
    # Short episodes and episodes up to the whole batch (cut to 50 steps: at most 49 taken).
    lengths = jax.random.randint(jax.random.PRNGKey(0), (64,), 0, high)
    mask = (jnp.arange(50)[:, None] < lengths).astype(jnp.float32)
    lanes = packing.pack_episodes(mask)
    taken = np.zeros((packing.lane_count(64), 2 * 50), int)
    for b in range(64):
        lane, start = int(lanes.lane[b]), int(lanes.offset[b])
        taken[lane, start:start + int(lengths[b]) + 1] += 1
    assert taken.max() == 1
    assert int(lanes.used) == taken.sum(axis=1).max()
    # at least as balanced as the least-filled rule: at most the mean fill plus the longest episode
    assert int(lanes.used) <= taken.sum() / len(taken) + int(lengths.max()) + 1
    assert packing.lane_count(32) == 16 and packing.lane_count(3) == 2 and packing.lane_count(1) == 1
    assert packing.lane_steps(64) == [64, 80, 96]


def episodes(lengths, steps, n_agents=3, obs_dim=6, n_actions=5):
    """Random whole episodes of the given lengths in a batch of ``steps`` steps."""
    batch = len(lengths)
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    mask = (jnp.arange(steps)[:, None] < jnp.array(lengths)).astype(jnp.float32)
    actions = jax.random.randint(keys[0], (steps, batch, n_agents), 0, n_actions)
    obs = jax.random.normal(keys[1], (steps, batch, n_agents, obs_dim))
    zeros = jnp.zeros((steps, batch))
    return Batch(obs, zeros, jnp.ones((steps, batch, n_agents, n_actions)), actions,
                 jnp.ones((steps, batch, n_agents, n_actions)) / n_actions, zeros, zeros, mask)


# slots 20 10 5 5 3 3 2 2 in 4 lanes: [20], [10], [5, 3, 2], [5, 3, 2]: lanes of 26 steps
LENGTHS, STEPS = [19, 9, 4, 4, 2, 2, 1, 1], 26


@pytest.mark.parametrize("recurrent", [True, False])
def test_the_unroll_in_lanes_equals_the_unroll_on_rows(recurrent):
    batch = episodes(LENGTHS, STEPS)
    policy = make_agent_policy(3, 6, 5, 16, recurrent, True, True)
    params = policy.init(jax.random.PRNGKey(2))
    lanes = packing.pack(packing.episode_lengths(batch.mask), packing.lane_count(len(LENGTHS)))
    assert int(lanes.used) == 20 and packing.lane_steps(STEPS) == [26, 33, 39]
    # the steps an episode took and its final observation; after it, padding
    seen = (jnp.arange(batch.mask.shape[0])[:, None] <= jnp.array(LENGTHS)).astype(jnp.float32)
    weights = jax.random.normal(jax.random.PRNGKey(3), batch.avail.shape) * seen[..., None, None]

    @jax.jit
    def value_and_grad(params, batch):
        def loss(params):
            outputs, hidden = unroll(policy, params, batch)
            return jnp.sum(outputs * weights) + jnp.sum(hidden * seen[..., None, None]), (outputs, hidden)
        return jax.value_and_grad(loss, has_aux=True)(params)

    (value, (outputs, hidden)), grads = value_and_grad(params, batch)
    on = seen[..., None, None] > 0
    for used in (20, 30, 39, 40):  # each branch: lanes of 26, 33 and 39 steps, then the rows
        packed = batch._replace(lanes=lanes._replace(used=jnp.int32(used)))
        (value_p, (outputs_p, hidden_p)), grads_p = value_and_grad(params, packed)
        np.testing.assert_allclose(jnp.where(on, outputs_p, 0), jnp.where(on, outputs, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jnp.where(on, hidden_p, 0), jnp.where(on, hidden, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value_p, value, rtol=1e-5)
        for g, g_p in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_p)):
            np.testing.assert_allclose(g_p, g, rtol=1e-4, atol=1e-5)


def test_ppo_trains_on_whole_episodes(tmp_path):
    """PPO's minibatches of whole episodes leave the whole batch's padding summaries behind
    (before, ``rollout=episodes`` failed indexing the scalar ``valid_steps``)."""
    run = lica.train(Corridor(n_agents=2, length=4), algo="mappo", out=tmp_path / "run", seeds=1, env_steps=400,
                     batch_size=4, rollout="episodes", eval_interval=400, eval_episodes=4)
    assert run.final()["env_steps"].iloc[0] >= 400
