"""Parameter initialization: PyTorch's defaults, as the reference code gets them (nets.initialize)."""

import jax
import jax.numpy as jnp
import numpy as np

from lica import algos
from lica.config import resolve
from lica.envs.base import EnvSpec
from lica.nets import initialize

SPEC = EnvSpec(n_agents=3, obs_dim=40, state_dim=50, n_actions=11, episode_limit=10)


def layers(tree, path=()):
    """Every Dense layer of a parameter nest as (path, {"kernel": ..., "bias": ...})."""
    if isinstance(tree, dict) and "kernel" in tree:
        yield path, tree
    elif isinstance(tree, dict):
        for name, sub in tree.items():
            yield from layers(sub, path + (name,))
    elif isinstance(tree, (tuple, list)):
        for i, sub in enumerate(tree):
            yield from layers(sub, path + (str(i),))


def lica_params(scheme):
    config = resolve("smac:2s3z", "lica", sets=[f"init={scheme}", "hypernet_hidden=64"])
    state = algos.make(config, SPEC).init(jax.random.PRNGKey(0))
    return state.policy, state.critic, state.target_critic


def test_torch_init_draws_every_weight_and_bias_uniform_within_pytorch_bound():
    policy, critic, target = lica_params("torch")
    found = {"dense": 0, "gru": 0}
    for path, layer in layers((policy, critic)):
        kernel = np.asarray(layer["kernel"])
        in_gru = any(p.startswith("GRUCell") for p in path)
        bound = 1 / np.sqrt(kernel.shape[-1] if in_gru else kernel.shape[-2])
        found["gru" if in_gru else "dense"] += 1
        for name, leaf in layer.items():
            leaf = np.asarray(leaf).ravel()
            assert np.abs(leaf).max() <= bound, (path, name)
            if leaf.size >= 1000:  # U(-b, b): mean 0, std b / sqrt(3) (Flax's kernels: sqrt(3) b)
                std = bound / np.sqrt(3)
                assert abs(leaf.mean()) < 5 * std / np.sqrt(leaf.size), (path, name)
                assert abs(leaf.std() / std - 1) < 0.05, (path, name)
                assert np.abs(leaf).max() > 0.99 * bound, (path, name)
    # the agent's two fc layers, the critic's seven (W1: 2, b1: 1, W2: 2, b2: 2), six GRU gates
    assert found == {"dense": 2 + 7, "gru": 6}
    jax.tree.map(np.testing.assert_array_equal, critic, target)  # the target starts as a copy


def test_flax_init_is_flax_default_and_differs_from_torch():
    policy, critic, _ = lica_params("flax")
    dense = dict(layers(critic))
    biases = [np.asarray(layer["bias"]) for layer in dense.values()]
    assert all(np.all(b == 0) for b in biases)  # Flax: zero biases; torch: U(+-1/sqrt(fan_in))
    torch_policy, *_ = lica_params("torch")
    first = policy["params"]["Dense_0"]["kernel"]
    assert not np.allclose(first, torch_policy["params"]["Dense_0"]["kernel"])
    # lecun-normal: std 1/sqrt(fan_in), 3x the variance of U(+-1/sqrt(fan_in))
    assert abs(float(jnp.std(first)) * np.sqrt(first.shape[0]) - 1) < 0.15


def test_initialize_keeps_leading_agent_axis_and_structure():
    params = {"params": {"Dense_0": {"kernel": jnp.zeros((4, 20, 8)), "bias": jnp.zeros((4, 8))}}}
    out = initialize("torch", jax.random.PRNGKey(1), params)
    kernel = out["params"]["Dense_0"]["kernel"]
    assert kernel.shape == (4, 20, 8) and float(jnp.abs(kernel).max()) <= 20 ** -0.5
    assert not np.allclose(kernel[0], kernel[1])  # each agent's copy drawn on its own
    assert initialize("flax", jax.random.PRNGKey(1), params) is params


def test_every_algorithm_initializes_with_torch_scheme():
    for name in algos.names():
        config = resolve("smac:2s3z", name, sets=["init=torch", "buffer_size=2"] if name in
                         ("vdn", "qmix", "qtran") else ["init=torch"])
        state = algos.make(config, SPEC).init(jax.random.PRNGKey(0))
        leaves = jax.tree.leaves(state)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves if jnp.issubdtype(x.dtype, jnp.floating))
