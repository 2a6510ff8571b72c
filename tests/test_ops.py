"""The shared math pinned to the paper: TD(lambda) (Eq. 2), entropy gradients (Eq. 5, 6), masks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica import ops
from lica.algos.lica import Config, entropy_bonus


def slow_td_lambda(rewards, terminated, mask, q, gamma, lam):
    """Eq. 2 by its definition, one episode at a time, with y_T = Q_T at a time-out and no
    bootstrap past a termination: y_t = r_t + gamma (lam y_{t+1} + (1 - lam) Q_{t+1})."""
    T, B = rewards.shape[0] - 1, rewards.shape[1]
    out = np.zeros((T, B))
    for b in range(B):
        length, ended = int(mask[:, b].sum()), bool(terminated[:, b].sum())
        for t in reversed(range(length)):
            if t == length - 1:
                out[t, b] = rewards[t, b] + (0.0 if ended else gamma * q[length, b])
            else:
                out[t, b] = rewards[t, b] + gamma * (lam * out[t + 1, b] + (1 - lam) * q[t + 1, b])
    return out


@pytest.mark.parametrize("lam", [0.0, 0.8, 1.0])
def test_td_lambda_matches_slow_recursion_with_episode_ends(lam):
    rng = np.random.default_rng(0)
    T, B = 12, 16
    lengths = rng.integers(1, T + 1, size=B)
    terminated_flag = rng.random(B) < 0.6  # the rest are cut by the time limit at T
    lengths[~terminated_flag] = T
    mask = (np.arange(T + 1)[:, None] < lengths[None]).astype(np.float32)
    terminated = np.zeros((T + 1, B), np.float32)
    terminated[lengths - 1, np.arange(B)] = terminated_flag
    rewards = rng.normal(size=(T + 1, B)).astype(np.float32) * mask
    q = rng.normal(size=(T + 1, B)).astype(np.float32)
    got = ops.td_lambda_targets(jnp.array(rewards), jnp.array(terminated), jnp.array(mask), jnp.array(q), 0.99, lam)
    want = slow_td_lambda(rewards, terminated, mask, q, 0.99, lam)
    valid = mask[:-1] > 0
    np.testing.assert_allclose(np.asarray(got)[valid], want[valid], rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(got)[~valid] == 0)


def entropy_of_probs(p):
    return -jnp.sum(p * jnp.log(p))


def test_adaptive_entropy_gradient_is_eq6():
    p = jnp.array([0.6, 0.25, 0.1, 0.05])
    xi = 0.11
    config = Config(env="junction", xi=xi)
    grad = jax.grad(lambda p: entropy_bonus(entropy_of_probs(p), config))(p)
    eq6 = -xi * (jnp.log(p) + 1) / entropy_of_probs(p)
    np.testing.assert_allclose(grad, eq6, rtol=1e-6)
    # the bonus's value is xi (H / H) while its gradient is scaled by 1/H: not the plain entropy
    assert float(entropy_bonus(entropy_of_probs(p), config)) == pytest.approx(xi)


def test_vanilla_entropy_gradient_is_eq5():
    p = jnp.array([0.7, 0.2, 0.1])
    config = Config(env="junction", entropy="vanilla", beta=0.15)
    grad = jax.grad(lambda p: entropy_bonus(entropy_of_probs(p), config))(p)
    np.testing.assert_allclose(grad, -0.15 * (jnp.log(p) + 1), rtol=1e-6)


def test_masked_probs_and_entropy_ignore_unavailable_actions():
    logits = jnp.array([[3.0, 1.0, 0.5, -1.0]])
    avail = jnp.array([[0.0, 1.0, 1.0, 0.0]])
    p = ops.masked_probs(logits, avail)
    assert float(p[0, 0]) == 0.0 and float(p[0, 3]) == 0.0
    np.testing.assert_allclose(p[0, 1:3], jax.nn.softmax(jnp.array([1.0, 0.5])), rtol=1e-6)
    np.testing.assert_allclose(ops.categorical_entropy(logits, avail),
                               ops.categorical_entropy(logits[:, 1:3], avail[:, 1:3]), rtol=1e-6)
    draws = jax.random.categorical(jax.random.PRNGKey(0), ops.mask_logits(logits, avail), shape=(2000, 1))
    assert set(np.unique(np.asarray(draws))) <= {1, 2}


def test_masked_mean_ignores_padding_even_nan():
    x = jnp.array([1.0, 3.0, jnp.nan, 100.0])
    mask = jnp.array([1.0, 1.0, 0.0, 0.0])
    assert float(ops.masked_mean(x, mask)) == 2.0


def test_gumbel_straight_through_is_one_hot_forward_soft_backward():
    logits = jnp.array([[1.0, 2.0, 0.0]])
    avail = jnp.array([[1.0, 1.0, 0.0]])
    sample = ops.gumbel_softmax_st(jax.random.PRNGKey(3), logits, avail)
    assert set(np.asarray(sample).ravel().tolist()) == {0.0, 1.0} and float(sample[0, 2]) == 0.0
    weighted = lambda x: jnp.sum(ops.gumbel_softmax_st(jax.random.PRNGKey(3), x, avail) * jnp.array([1.0, 2.0, 3.0]))
    grad = jax.grad(weighted)(logits)
    assert float(jnp.abs(grad[0, :2]).sum()) > 0  # gradients flow through the soft sample


def test_where_leading_picks_whole_rows_by_a_flag_per_row():
    new, old = jnp.arange(12.0).reshape(2, 3, 2), -jnp.ones((2, 3, 2))
    picked = ops.where_leading(jnp.array([True, False]), new, old)
    np.testing.assert_array_equal(picked[0], new[0])
    np.testing.assert_array_equal(picked[1], old[1])
    np.testing.assert_array_equal(ops.where_leading(jnp.array([0.0, 1.0]) > 0, jnp.ones(2), 0), [0.0, 1.0])


def test_fitting_index_picks_the_smallest_size_that_holds_the_need_the_same_for_every_seed():
    sizes = [2, 8, 32]
    assert [int(ops.fitting_index(sizes, n)) for n in (0, 2, 3, 8, 9, 32, 40)] == [0, 0, 1, 1, 2, 2, 2]
    needs = jnp.array([1, 5, 3])
    per_seed = jax.vmap(lambda n: ops.fitting_index(sizes, ops.seeds_max(n, "seed")), axis_name="seed")(needs)
    np.testing.assert_array_equal(per_seed, [1, 1, 1])
    assert int(ops.seeds_max(needs[0], None)) == 1


def test_target_update_copies_blends_or_keeps():
    params, target = {"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([3.0, 6.0])}
    np.testing.assert_array_equal(ops.target_update(params, target, 0)["w"], target["w"])  # not due
    np.testing.assert_array_equal(ops.target_update(params, target, 1)["w"], params["w"])  # a copy
    # two soft updates at tau 0.1: target moves 1 - 0.9^2 = 19% of the way
    np.testing.assert_allclose(ops.target_update(params, target, 2, tau=0.1)["w"], [2.62, 5.24], rtol=1e-6)


@pytest.mark.parametrize("count", [None, 40])  # 40: a larger count shared with other seeds
def test_on_valid_rows_matches_the_dense_computation_and_its_gradients(count):
    key_x, key_m = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(key_x, (7, 5, 3))
    mask = (jax.random.uniform(key_m, (7, 5)) > 0.5).astype(jnp.float32)
    assert 0 < mask.sum() < 35 and int(mask.sum()) % 4  # a partly filled last chunk
    w = jnp.array([0.5, -1.0, 2.0])

    def packed(w, x):
        return ops.on_valid_rows(lambda w, rows: jnp.tanh(rows @ w), w, mask, [x], chunk=4, count=count)

    def dense(w, x):
        return jnp.where(mask > 0, jnp.tanh(x @ w), 0.0)

    np.testing.assert_allclose(packed(w, x), dense(w, x), atol=1e-6)
    assert np.all(np.asarray(packed(w, x))[np.asarray(mask) == 0] == 0)  # padding is never computed
    grads = [jax.grad(lambda w, x: jnp.sum(f(w, x) ** 2), argnums=(0, 1))(w, x) for f in (packed, dense)]
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_value_and_row_grad_linearized_gives_the_values_and_gradients_of_the_function():
    key_s, key_x, key_w = jax.random.split(jax.random.PRNGKey(1), 3)
    states, x = jax.random.normal(key_s, (6, 4, 2)), jax.random.normal(key_x, (6, 4, 3))
    w = jax.random.normal(key_w, (2, 3))

    def fn(w, states, x):  # rows independent, nonlinear in x and in its product with the state
        return jnp.sum(jnp.tanh(x * (states @ w)) ** 2, axis=-1)

    def weighted(q):  # a cotangent that differs per row, as a masked mean's does
        return jnp.sum(q * jnp.arange(24.0).reshape(6, 4))

    def through_row_grads(x):
        return ops.linearized(ops.value_and_row_grad(fn)(w, states, jax.lax.stop_gradient(x)), x)

    np.testing.assert_array_equal(through_row_grads(x), fn(w, states, x))
    np.testing.assert_allclose(jax.grad(lambda x: weighted(through_row_grads(x)))(x),
                               jax.grad(lambda x: weighted(fn(w, states, x)))(x), rtol=1e-5, atol=1e-5)


def test_value_and_grad_on_valid_rows_matches_the_dense_loss_and_its_gradient():
    key_x, key_m, key_y = jax.random.split(jax.random.PRNGKey(2), 3)
    x, targets = jax.random.normal(key_x, (7, 5, 3)), jax.random.normal(key_y, (7, 5))
    mask = (jax.random.uniform(key_m, (7, 5)) > 0.5).astype(jnp.float32)
    assert int(mask.sum()) % 4  # a partly filled last chunk, its fill rows weighted 0
    w = jnp.array([0.5, -1.0, 2.0])

    def fn(w, rows):
        return jnp.tanh(rows @ w)

    def dense(w):
        y = jnp.where(mask > 0, fn(w, x), 0.0)
        return ops.masked_mean((y - targets) ** 2, mask), y

    weights = mask / mask.sum()
    loss, y, grads = ops.value_and_grad_on_valid_rows(fn, lambda y, t, k: k * (y - t) ** 2, w, mask, [x],
                                                      [targets, weights], chunk=4)
    (want_loss, want_y), want_grads = jax.value_and_grad(dense, has_aux=True)(w)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_allclose(grads, want_grads, rtol=1e-5, atol=1e-6)
