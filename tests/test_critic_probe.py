"""The critic probe (lica/tools/critic_probe.py): its returns, and focus fire read on the very
states the policy acted in."""

import jax
import jax.numpy as jnp
import numpy as np

from lica.config import resolve
from lica.nets import make_critic
from lica.rollout import rollout
from lica.tools.critic_probe import discounted_returns, focus_actions, probe_seed
from lica.trainer import make_trainer


def test_discounted_returns_stop_at_each_episode_end():
    reward = jnp.array([[1.0, 2.0], [1.0, 0.0], [1.0, 5.0]])
    mask = jnp.array([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # the second episode ends after a step
    returns = discounted_returns(reward, mask, 0.5)
    np.testing.assert_allclose(returns, [[1.75, 2.0], [1.5, 0.0], [1.0, 0.0]])


def test_focus_fire_is_read_on_the_states_the_policy_acted_in():
    config = resolve("smac:2s3z", "lica", sets=["env_args.attack_orders=true", "hypernet_hidden=8"])
    trainer = make_trainer(config)
    state = trainer.init(jax.random.PRNGKey(0))
    batch, _, env_states = rollout(trainer.env, trainer.algo, state.algo, jax.random.PRNGKey(1), 4, greedy=True,
                                   keep_states=True)
    focus = focus_actions(trainer.env, env_states, batch.avail)
    chosen = jnp.take_along_axis(batch.avail, focus[..., None], -1)[..., 0]
    valid = np.asarray(batch.mask) > 0
    assert valid.sum() > 20 and np.all(np.asarray(chosen)[valid] == 1)  # every agent, every step taken
    critic = make_critic(config.critic, config.critic_embed, config.hypernet_hidden)
    row = jax.device_get(probe_seed(trainer, critic, config, state.algo, jax.random.PRNGKey(1), 4))
    assert row["steps"] == valid.sum()
    shares = [k for k in row if k.startswith("differs_")]
    assert len(shares) == 4 and abs(sum(row[k] for k in shares) - 1) < 1e-5
    for share in ("steps_focus_differs", "q_focus_above_own", "agents_gain_alone", "slope_to_focus_positive", "won"):
        assert 0.0 <= row[share] <= 1.0
