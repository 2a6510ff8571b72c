"""The Monte Carlo value of a script's step (lica/tools/deviation_value.py): play-outs that start
where they are told, with the joint action they are given, and count nothing after a battle ends."""

import jax
import jax.numpy as jnp
import numpy as np

from lica.config import resolve
from lica.tools.deviation_value import play_out, summarize
from lica.trainer import make_trainer


def test_play_outs_return_the_battles_discounted_rewards_and_nothing_for_a_battle_over():
    config = resolve("smac:3m", "lica", sets=["hypernet_hidden=8"])
    trainer = make_trainer(config)
    env, algo = trainer.env, trainer.algo
    state = trainer.init(jax.random.PRNGKey(0)).algo
    battles = 16
    obs, _, avail, env_state = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), battles))
    alive = jnp.ones((battles,)).at[0].set(0.0)  # the first battle counts as over
    start = (obs, avail, env_state, algo.init_carry((battles,)), alive)
    stop = jnp.full((battles, env.spec.n_agents), 4)  # "stop" is always available
    play = jax.jit(lambda key, first, gamma: play_out(env, algo, state, key, start, first, gamma,
                                                      env.spec.episode_limit))
    undiscounted = np.asarray(play(jax.random.PRNGKey(2), stop, 1.0))
    discounted = np.asarray(play(jax.random.PRNGKey(2), stop, 0.9))
    assert undiscounted[0] == 0.0 and discounted[0] == 0.0
    assert np.all(undiscounted[1:] > 0) and np.all(undiscounted <= 20.0 + 1e-4)  # SMAC's scaled return
    assert np.all(discounted[1:] < undiscounted[1:])  # rewards come later than the first step
    # The same key and first action play the same battle; another first action changes it.
    np.testing.assert_array_equal(undiscounted, np.asarray(play(jax.random.PRNGKey(2), stop, 1.0)))
    north = jnp.zeros_like(stop)
    assert not np.array_equal(undiscounted, np.asarray(play(jax.random.PRNGKey(2), north, 1.0)))


def test_the_summary_counts_only_the_battles_still_going():
    alive = np.array([1.0, 1.0, 1.0, 0.0])
    true_advantage = np.array([0.1, 0.2, 0.3, 9.0])
    critic_advantage = np.array([-0.1, -0.2, -0.3, 9.0])
    control = np.array([0.01, 0.02, 0.03, 9.0])
    row = summarize(alive, true_advantage, critic_advantage, control)
    assert row["battles"] == 3
    np.testing.assert_allclose([row["true_advantage"], row["critic_advantage"], row["critic_own_advantage"]],
                               [0.2, -0.2, 0.02])
    assert row["signs_agree"] == 0.0 and np.isclose(row["correlation"], -1.0)
