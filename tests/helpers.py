"""Small helpers shared by the algorithm tests."""

import jax
import jax.numpy as jnp


def target_equals_online_after_each_update(trainer, updates, online, target):
    """Run ``updates`` jitted updates; after each, is ``target(algo_state)`` equal to
    ``online(algo_state)``? Returns ``(train_state, last_metrics, [bool per update])``."""
    update = jax.jit(trainer.update)
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    same = []
    for _ in range(updates):
        ts, metrics, _ = update(ts)
        equal = jax.tree.map(lambda x, y: bool(jnp.all(x == y)), online(ts.algo), target(ts.algo))
        same.append(all(jax.tree.leaves(equal)))
    return ts, metrics, same
