"""The critic probe (lica/tools/critic_probe.py): its returns, and a script's actions read on the
very states the policy acted in."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica.config import resolve
from lica.nets import make_critic
from lica.rollout import rollout
from lica.tools.critic_probe import discounted_returns, probe_seed, script_actions
from lica.trainer import make_trainer


def test_discounted_returns_stop_at_each_episode_end():
    reward = jnp.array([[1.0, 2.0], [1.0, 0.0], [1.0, 5.0]])
    mask = jnp.array([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # the second episode ends after a step
    returns = discounted_returns(reward, mask, 0.5)
    np.testing.assert_allclose(returns, [[1.75, 2.0], [1.5, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("env, env_arg, script, greedy", [
    ("smac:2s3z", "attack_orders", "focus", True), ("smac:2c_vs_64zg", "cliff_walk", "splash_kite", False)])
def test_the_script_is_read_on_the_states_the_policy_acted_in(env, env_arg, script, greedy):
    config = resolve(env, "lica", sets=[f"env_args.{env_arg}=true", "hypernet_hidden=8"])
    trainer = make_trainer(config)
    state = trainer.init(jax.random.PRNGKey(0))
    batch, _, env_states = rollout(trainer.env, trainer.algo, state.algo, jax.random.PRNGKey(1), 4, greedy=greedy,
                                   keep_states=True)
    scripted = script_actions(trainer.env, env_states, batch.avail, script)
    chosen = jnp.take_along_axis(batch.avail, scripted[..., None], -1)[..., 0]
    valid = np.asarray(batch.mask) > 0
    assert valid.sum() > 20 and np.all(np.asarray(chosen)[valid] == 1)  # every agent, every step taken
    critic = make_critic(config.critic, config.critic_embed, config.hypernet_hidden)
    row = jax.device_get(probe_seed(trainer, critic, config, state.algo, jax.random.PRNGKey(1), 4, script, greedy))
    assert row["steps"] == valid.sum()
    shares = [k for k in row if k.startswith("differs_")]
    assert len(shares) == 4 and abs(sum(row[k] for k in shares) - 1) < 1e-5
    for share in ("steps_script_differs", "q_script_above_own", "agents_gain_alone", "slope_to_script_positive",
                  "won"):
        assert 0.0 <= row[share] <= 1.0
    assert np.isnan(row["start_return_won"]) == (row["won"] == 0)  # no battle won: no value of one
    won = row["won"]  # the battles' start values, won and lost, average to all of theirs
    parts = [(won, row["start_return_won"]), (1 - won, row["start_return_lost"])]
    np.testing.assert_allclose(sum(w * v for w, v in parts if w > 0), row["start_return"], rtol=1e-5)
