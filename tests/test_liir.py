"""LIIR's meta-gradient (LIIR Eq. 5-7) against finite differences and its first-order form,
and training on the shared machinery."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica import ops
from lica.algos.pymarl import liir
from lica.algos.pymarl.actor_critic import critic_inputs, log_policy
from lica.algos.pymarl.common import take, unroll
from lica.batch import Batch
from lica.config import resolve
from lica.envs.base import EnvSpec
from lica.trainer import make_trainer

SPEC = EnvSpec(n_agents=2, obs_dim=3, state_dim=4, n_actions=3, episode_limit=4)


def tiny_case(config):
    """Everything ``meta_loss`` needs for 4-step episodes of 2 agents (one ends after 2 steps),
    in float64 so that finite differences are exact enough."""
    n, a, t1, b = SPEC.n_agents, SPEC.n_actions, SPEC.episode_limit + 1, 3
    ks = jax.random.split(jax.random.PRNGKey(0), 12)
    avail = jnp.ones((t1, b, n, a)).at[:, 0, 1, 2].set(0.0)
    mask = jnp.ones((t1, b)).at[-1].set(0.0).at[2:, 1].set(0.0)
    terminated = jnp.zeros((t1, b)).at[1, 1].set(1.0)
    batch = Batch(obs=jax.random.normal(ks[0], (t1, b, n, 3)), state=jax.random.normal(ks[1], (t1, b, 4)),
                  avail=avail, actions=jax.random.randint(ks[2], (t1, b, n), 0, 2), probs=jnp.zeros((t1, b, n, a)),
                  reward=jax.random.normal(ks[3], (t1, b)) * mask, terminated=terminated, mask=mask)
    parts = liir.build(SPEC, config)
    inputs = critic_inputs(batch, n, a)
    theta = parts.policy.init(ks[4])
    critic = parts.proxy.init(ks[5], inputs)
    eta = parts.r_in.init(ks[6], jnp.zeros((config.critic_hidden,)))
    features, target_v = parts.proxy.apply(critic, inputs)
    v_proxy = jax.random.normal(ks[7], (t1 - 1, b, n))
    adv_ex = jax.random.normal(ks[8], (t1 - 1, b))
    to64 = lambda tree: jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
    args = to64((theta, batch, features, target_v, v_proxy, adv_ex))
    return parts, to64(eta), args, ks[9]


def config_for(*sets):
    return resolve("junction", "liir", sets=["agent=rnn", "hidden=8", "critic_hidden=8", "share_params=true",
                                            "last_action_input=true", "td_lambda=0.8", "intrinsic_scale=0.5", *sets])


def test_meta_gradient_equals_finite_differences_and_is_not_zero():
    with jax.enable_x64(True):
        parts, eta, (theta, *rest), key = tiny_case(config_for("lr_policy=0.05"))
        meta = jax.jit(lambda e: parts.meta_loss(e, theta, *rest, 0.1))
        grad = jax.jit(jax.grad(meta))(eta)
        leaves, tree = jax.tree.flatten(eta)
        direction = jax.tree.unflatten(tree, [jax.random.normal(k, x.shape, jnp.float64)
                                              for k, x in zip(jax.random.split(key, len(leaves)), leaves)])
        along = lambda h: meta(jax.tree.map(lambda e, d: e + h * d, eta, direction))
        h = 1e-4
        finite_difference = (along(h) - along(-h)) / (2 * h)
        analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction)))
        assert abs(float(analytic)) > 1e-4
        assert float(analytic) == pytest.approx(float(finite_difference), rel=1e-5)


def test_meta_gradient_is_the_gradient_of_extrinsic_improvement_through_the_policy_step():
    """First-order form (the authors' dot product of gradients): for a small step alpha,
    ``grad_eta J^ex(theta'(eta)) / alpha -> grad_eta [grad_theta J^ex . -grad_theta L^proxy(eta)]``
    with ``J^ex = E[A^ex sum_i log pi(u^i)]``. Without intrinsic reward the meta-gradient is 0."""
    with jax.enable_x64(True):
        config = config_for("lr_policy=1e-7")
        parts, eta, (theta, batch, features, target_v, v_proxy, adv_ex), _ = tiny_case(config)
        eps = 0.1
        meta_grad = jax.grad(parts.meta_loss)(eta, theta, batch, features, target_v, v_proxy, adv_ex, eps)

        def j_ex(th):
            logits, _ = unroll(parts.policy, th, batch)
            log_pi = take(log_policy(logits[:-1], batch.avail[:-1], eps), batch.actions[:-1])
            return ops.masked_mean(adv_ex * jnp.sum(log_pi, -1), batch.mask[:-1])

        g_ex = jax.grad(j_ex)(theta)

        def first_order(e):
            g_proxy = jax.grad(parts.policy_loss)(theta, e, batch, features, target_v, v_proxy, eps)
            return sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g_ex), jax.tree.leaves(g_proxy)))

        expected = jax.grad(first_order)(eta)
        for got, want in zip(jax.tree.leaves(meta_grad), jax.tree.leaves(expected)):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-8 * float(jnp.abs(want).max()))

        parts0, eta0, (theta0, *rest0), _ = tiny_case(config_for("lr_policy=1e-7", "intrinsic_scale=0"))
        zero = jax.grad(parts0.meta_loss)(eta0, theta0, *rest0, eps)
        assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(zero))


def train_a_few_updates(env, sets):
    config = resolve(env, "liir", sets=sets)
    trainer = make_trainer(config)
    update = jax.jit(trainer.update)
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    eta_before = ts.algo.intrinsic["r_in"]
    for _ in range(3):
        ts, metrics, _ = update(ts)
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(ts.algo))
    moved = jax.tree.map(lambda x, y: float(jnp.abs(x - y).max()), ts.algo.intrinsic["r_in"], eta_before)
    assert max(jax.tree.leaves(moved)) > 0.0  # the intrinsic reward is being learned
    return metrics


def test_trains_without_nan_on_junction_and_spread():
    train_a_few_updates("junction", ["batch_size=8"])
    metrics = train_a_few_updates("jaxmarl:MPE_simple_spread_v3",
                                  ["batch_size=4", "hidden=16", "critic_hidden=16", "env_args.episode_limit=10"])
    assert float(metrics["meta_grad_norm"]) > 0.0
