"""LICA's critic, update and learning on the traffic junction (Sec. 3.2, Eq. 2-4, Fig. 5)."""

import jax
import jax.numpy as jnp
import numpy as np
from helpers import target_equals_online_after_each_update

from lica import ops
from lica.algos import lica
from lica.config import resolve
from lica.envs.base import EnvSpec
from lica.experiments import junction
from lica.nets import MixingCritic, MLPCritic
from lica.rollout import rollout
from lica.trainer import make_trainer


def test_mixing_critic_mixes_state_and_actions_multiplicatively():
    # C_Mix: nu = u @ W1(s), so d nu / du depends on s.
    ds_du = jax.jacfwd(jax.grad(lambda s, u: MixingCritic(8).apply(params, s, u), argnums=1), argnums=0)
    s, u = jnp.linspace(-1, 1, 3), jnp.linspace(0, 1, 4)
    params = MixingCritic(8).init(jax.random.PRNGKey(0), s, u)
    assert float(jnp.abs(ds_du(s, u)).max()) > 1e-3
    # and the Q of two states answers the same action change differently
    dq_du = jax.grad(lambda s, u: MixingCritic(8).apply(params, s, u), argnums=1)
    assert not np.allclose(dq_du(s, u), dq_du(-s, u), atol=1e-4)


def test_mlp_critic_first_layer_is_additive():
    # C_MLP: its first layer's output nu(s, u), read from the module itself, has no cross term
    # d2 nu / ds du, where the mixing critic's Q has one (the test above).
    s, u = jnp.linspace(-1, 1, 3), jnp.linspace(0, 1, 4)
    critic = MLPCritic(8)
    params = critic.init(jax.random.PRNGKey(0), s, u)

    def first_layer(s, u):
        _, seen = critic.apply(params, s, u, capture_intermediates=True, mutable=["intermediates"])
        return seen["intermediates"]["Dense_0"]["__call__"][0].sum()

    cross = jax.jacfwd(jax.grad(first_layer, argnums=1), argnums=0)(s, u)
    assert float(jnp.abs(cross).max()) == 0.0
    ds, du = jax.grad(first_layer, argnums=(0, 1))(s, u)  # the layer read sees both inputs
    assert float(jnp.abs(ds).min()) > 0.0 and float(jnp.abs(du).min()) > 0.0


class PaddedEnv:
    """A 2-agent task whose episodes end after 2 steps; stepping past the end yields NaN."""

    spec = EnvSpec(n_agents=2, obs_dim=3, state_dim=4, n_actions=3, episode_limit=5)

    avail = jnp.array([[1.0, 1, 0], [1, 1, 1]])  # agent 0 may never take action 2

    def reset(self, key):
        return jnp.ones((2, 3)), jnp.ones(4), self.avail, jnp.zeros((), jnp.int32)

    def step(self, key, t, actions):
        t = t + 1
        bad = jnp.where(t > 2, jnp.nan, 1.0)  # garbage in every padded step
        obs = jnp.ones((2, 3)) * bad
        reward = jnp.sum(actions == 1).astype(jnp.float32) * bad
        return obs, jnp.ones(4) * bad, self.avail, reward, t >= 2, {}, t


def test_update_ignores_padded_steps_and_never_takes_unavailable_actions():
    config = resolve("junction", "lica", sets=["agent=rnn", "share_params=true", "last_action_input=true",
                                                "critic=mix", "xi=0.06", "hidden=8", "critic_embed=8"])
    env = PaddedEnv()
    algo = lica.make(env.spec, config)
    state = algo.init(jax.random.PRNGKey(0))
    batch, stats, _ = rollout(env, algo, state, jax.random.PRNGKey(1), 16, greedy=False)
    assert np.all(np.asarray(batch.mask.sum(0)) == 2)
    assert not np.any(np.asarray(batch.actions[:2, :, 0]) == 2)
    new_state, metrics = jax.jit(algo.update)(state, batch, jax.random.PRNGKey(2))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(jax.tree.leaves(jax.tree.map(lambda x: bool(jnp.all(jnp.isfinite(x))), new_state)))


def test_target_critic_is_copied_every_interval():
    config = resolve("junction", "lica", sets=["target_update_interval=3"])
    from lica.trainer import make_trainer

    _, _, same = target_equals_online_after_each_update(
        make_trainer(config), 6, lambda s: s.critic, lambda s: s.target_critic)
    assert same == [False, False, True, False, False, True]


def test_each_of_k_critic_steps_per_batch_counts_towards_the_target_copies():
    # Two critic steps per update and a copy every 4: the copy falls at the end of every second update.
    config = resolve("junction", "lica", sets=["target_update_interval=4", "critic_steps=2"])
    from lica.trainer import make_trainer

    _, _, same = target_equals_online_after_each_update(
        make_trainer(config), 6, lambda s: s.critic, lambda s: s.target_critic)
    assert same == [False, True, False, True, False, True]


def test_traffic_junction_lica_converges_to_an_optimal_joint_action():
    """Fig. 5: over 1,000 random initializations, 60 updates each, LICA's mean probability of an
    optimal joint action ends >= 0.9 (a random or broken policy stays near 0.5)."""
    res = junction.run("lica", inits=1000, iterations=60)
    p = res["p_optimal"]
    assert abs(float(p[0].mean()) - 0.5) < 0.05  # starts at chance
    assert float(p[-1].mean()) >= 0.9
    # both optima are found across initializations (credit assignment, not a fixed bias)
    final = np.round(res["p_pass"][-1])
    assert 0.3 < float(np.mean(final[:, 0] == 1)) < 0.7


def test_policy_loss_gradient_is_minus_dq_du_through_the_probabilities_plus_adaptive_entropy():
    # Eq. 4 and Eq. 6 with the critic fixed: d loss / d logits = J^T (-dQ/du) - (xi / H) dH/dlogits,
    # J the Jacobian of the masked softmax; xi / H is a constant (else the bonus xi H / H = xi
    # would have no gradient at all).
    T, B, N, A = 3, 2, 2, 4
    logits = jax.random.normal(jax.random.PRNGKey(0), (T, B, N, A))
    avail = jnp.ones((T, B, N, A)).at[..., 0, 3].set(0.0)  # agent 0 may never take action 3
    mask = jnp.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    weights = jax.random.normal(jax.random.PRNGKey(1), (N, A))
    critic_q = lambda u: jnp.sum(jnp.tanh(u * weights), axis=(-2, -1))  # a nonlinear Q(s, u)
    config = lica.Config(env="junction", xi=0.11)

    def loss(lg):
        return lica.policy_loss(critic_q, ops.masked_probs(lg, avail), lg, avail, mask, config)[0]

    probs, pullback = jax.vjp(lambda lg: ops.masked_probs(lg, avail), logits)
    dq_du = jax.grad(lambda u: ops.masked_mean(critic_q(u), mask))(probs)
    entropy = lambda lg: ops.masked_mean(jnp.mean(ops.categorical_entropy(lg, avail), -1), mask)
    want = pullback(-dq_du)[0] - config.xi / entropy(logits) * jax.grad(entropy)(logits)
    np.testing.assert_allclose(jax.grad(loss)(logits), want, rtol=1e-5, atol=1e-6)
    # the loss's value: -(mean Q + xi), the bonus being xi H / H
    np.testing.assert_allclose(loss(logits), -(ops.masked_mean(critic_q(probs), mask) + config.xi), rtol=1e-6)


def test_the_policy_step_never_changes_the_critic():
    # With a critic learning rate too small to move any weight, an update must leave the critic
    # exactly as it was, though the policy step differentiates through it.
    config = resolve("smac:3m", "lica", sets=["lr_critic=1e-30", "hypernet_hidden=16", "batch_size=2"])
    trainer = make_trainer(config)
    state = trainer.algo.init(jax.random.PRNGKey(0))
    batch, _, _ = rollout(trainer.env, trainer.algo, state, jax.random.PRNGKey(1), 2, greedy=False)
    new, _ = jax.jit(trainer.algo.update)(state, batch, jax.random.PRNGKey(2))
    jax.tree.map(np.testing.assert_array_equal, new.critic, state.critic)
    assert not np.allclose(new.policy["params"]["Dense_0"]["kernel"], state.policy["params"]["Dense_0"]["kernel"])
