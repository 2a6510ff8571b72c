"""IPPO and MAPPO (``lica.algos.ppo``): GAE, the clipped objectives, the critic's carry across
segments, and learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lica
from examples.corridor import Corridor
from lica import algos
from lica.algos.ppo import core
from lica.algos.pymarl.common import unroll
from lica.config import resolve
from lica.rollout import segment, start_runner


def slow_gae(rewards, terminated, values, gamma, lam):
    """GAE's recursion step by step, from the last step back (one environment)."""
    steps = len(rewards) - 1
    advantages = np.zeros(steps)
    following = 0.0
    for t in reversed(range(steps)):
        going_on = 1.0 - terminated[t]
        delta = rewards[t] + gamma * going_on * values[t + 1] - values[t]
        following = delta + gamma * lam * going_on * following
        advantages[t] = following
    return advantages


@pytest.mark.parametrize("lam", [0.0, 0.95, 1.0])
def test_gae_matches_its_recursion_across_episode_ends(lam):
    rng = np.random.default_rng(0)
    t, b = 12, 5
    rewards = rng.normal(size=(t + 1, b))
    values = rng.normal(size=(t + 1, b))
    terminated = (rng.random((t + 1, b)) < 0.2).astype(float)  # episodes end mid-segment
    mask = np.ones((t + 1, b))
    mask[-1] = 0.0  # the bootstrap step, as a segment has it
    fast = core.gae(*map(jnp.asarray, (rewards, terminated, mask, values)), 0.99, lam)
    slow = np.stack([slow_gae(rewards[:, i], terminated[:, i], values[:, i], 0.99, lam) for i in range(b)], 1)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)


def test_clipped_surrogate_by_hand():
    # ratios 1.5 and 0.5 against advantages +2 and -2, clip 0.2: the pessimistic side each time
    log_ratio = jnp.log(jnp.array([1.5, 1.5, 0.5, 0.5]))
    advantage = jnp.array([2.0, -2.0, 2.0, -2.0])
    loss = core.clipped_surrogate(log_ratio, advantage, 0.2)
    # 1.5*2=3 clipped to 1.2*2=2.4; 1.5*-2=-3 kept; 0.5*2=1 kept; 0.5*-2=-1 clipped to 0.8*-2=-1.6
    np.testing.assert_allclose(loss, [-2.4, 3.0, -1.0, 1.6], rtol=1e-6)
    # inside the clip range the gradient is the plain policy gradient A * r
    grad = jax.grad(lambda x: core.clipped_surrogate(x, 2.0, 0.2))(jnp.log(1.1))
    np.testing.assert_allclose(grad, -2.0 * 1.1, rtol=1e-6)
    assert jax.grad(lambda x: core.clipped_surrogate(x, 2.0, 0.2))(jnp.log(1.5)) == 0.0  # clipped: no gradient


def test_clipped_value_loss_by_hand():
    # old value 1, target 3: a new value of 2 moved 1 (clip 0.5 keeps 1.5): max(1, 2.25) / 2
    np.testing.assert_allclose(core.clipped_value_loss(2.0, 1.0, 3.0, 0.5), 1.125)
    # a new value past the target: the unclipped error 0.25 < clipped 2.25 -> 2.25 / 2
    np.testing.assert_allclose(core.clipped_value_loss(3.5, 1.0, 3.0, 0.5), 1.125)
    np.testing.assert_allclose(core.clipped_value_loss(1.2, 1.0, 3.0, 0.5), 0.5 * 1.8 ** 2)  # within the clip


def test_the_critic_carries_its_hidden_state_from_one_segment_into_the_next():
    """Two segments with the carry the update stores give the values of one segment twice as long."""
    env = Corridor(n_agents=2, length=6, max_steps=4)  # episodes end inside a segment and span the next
    config = resolve("object:Corridor", "mappo", env_object=env, batch_size=4, segment_length=6, minibatches=2)
    algo = algos.make(config, env.spec)
    state = algo.init(jax.random.PRNGKey(0))
    critic = core.make_agent_policy(2, env.spec.state_dim, 1, config.hidden, True, True, False,
                                    net=core.Net(config.hidden, 1, 1.0, True))
    runner = start_runner(env, algo, jax.random.PRNGKey(1), 4)
    first, _, runner = segment(env, algo, state, runner, jax.random.PRNGKey(2), 6)
    after, _ = algo.update(state, first, jax.random.PRNGKey(3))  # its carry: from the critic before the update
    second, _, _ = segment(env, algo, state, runner, jax.random.PRNGKey(4), 6)

    def values(batch, hidden0):
        state_in = jnp.broadcast_to(batch.state[..., None, :], batch.obs.shape[:-1] + batch.state.shape[-1:])
        return unroll(critic, state.critic, batch, state_in, hidden0)[0][..., 0]

    whole = jax.tree.map(lambda a, b: jnp.concatenate([a[:-1], b]), first._replace(carry0=None),
                         second._replace(carry0=None))._replace(carry0=first.carry0)
    joined = jnp.concatenate([values(first, state.critic_carry)[:-1], values(second, after.critic_carry)])
    assert float(jnp.sum(first.first[1:])) > 0  # an episode did begin inside the first segment
    np.testing.assert_allclose(joined, values(whole, state.critic_carry), rtol=1e-5, atol=1e-6)


def test_batch_size_must_split_into_minibatches():
    with pytest.raises(lica.config.ConfigError, match=r"batch_size \(6\) must be a multiple of minibatches \(4\)"):
        algos.make(resolve("smac:3m", "mappo", batch_size=6), Corridor().spec)


@pytest.mark.parametrize("algo", ["mappo", "ippo"])
def test_ppo_walks_the_corridor(tmp_path, algo):
    """Untrained greedy agents (near-uniform policies, argmax of noise) rarely reach the end
    within 20 steps; after 20k env steps every seed's greedy episode takes under 8."""
    run = lica.train(Corridor(n_agents=2, length=6), algo=algo, out=tmp_path / "run", seeds=2, env_steps=20_000,
                     batch_size=8, segment_length=32, eval_interval=10_000, eval_episodes=32)
    untrained = run.metrics.query("env_steps == 0")["test_episode_length"]
    assert (untrained > 15).all()
    final = run.final()
    assert (final["test_episode_length"] < 8).all(), final["test_episode_length"]
