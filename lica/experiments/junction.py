"""Fig. 5: the 1-step traffic junction over many random initializations, in one vmapped run.

Each initialization is a seed of the ordinary training program (``lica.trainer``) with the
junction preset; after every update we read the exact policy probabilities, so the curve is
P(optimal joint action) = p1(1-p2) + (1-p1)p2 with p_i = P(agent i passes), not a sample.
``lica reproduce fig5`` runs it through ``train_unit`` and draws it.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from lica.config import resolve
from lica.envs.junction import PASS
from lica.trainer import make_trainer


def pass_probabilities(trainer, ts):
    """P(pass) of each agent under the current policy, shape [n_agents]."""
    env = trainer.env
    obs, _, avail, _ = env.reset(jax.random.PRNGKey(0))
    carry = trainer.algo.init_carry((1,))
    _, probs, _ = trainer.algo.act(ts.algo, carry, obs[None], avail[None], ts.key, True)
    return probs[0, :, PASS]


def optimal_probability(p_pass):
    """Probability that exactly one agent passes, the shared reward's expectation."""
    p1, p2 = p_pass[..., 0], p_pass[..., 1]
    return p1 * (1 - p2) + (1 - p1) * p2


def simulate(config, iterations: int) -> np.ndarray:
    """P(pass) of both agents for ``config.seeds`` initializations (seeds ``config.seed + i``)
    before and after each of ``iterations`` updates: shape [iterations+1, inits, 2]."""
    trainer = make_trainer(config)

    def one_init(key):
        ts = trainer.init(key)

        def step(ts, _):
            ts, *_ = trainer.update(ts)
            return ts, pass_probabilities(trainer, ts)

        _, p = jax.lax.scan(step, ts, None, length=iterations)
        return jnp.concatenate([pass_probabilities(trainer, ts)[None], p])

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(config.seeds) + config.seed)
    return np.asarray(jax.jit(jax.vmap(one_init, out_axes=1))(keys))


def run(algo: str = "lica", inits: int = 1000, iterations: int = 60, seed: int = 0, sets=()):
    """Train ``inits`` initializations for ``iterations`` updates each.

    Returns ``{"p_pass": [iterations+1, inits, 2], "p_optimal": [iterations+1, inits]}``, step 0
    being the untrained policy.
    """
    config = resolve("junction", algo, sets=list(sets), seeds=inits, seed=seed)
    p_pass = simulate(config, iterations)
    return {"p_pass": p_pass, "p_optimal": optimal_probability(p_pass)}


def metric_rows(config, p_pass, wall_s: float) -> list[dict]:
    """metrics.csv rows, one per initialization and update: P(pass) of each agent and P(optimal)."""
    p_optimal = optimal_probability(p_pass)
    return [{"seed": config.seed + i, "env_steps": k * config.batch_size, "updates": k, "wall_s": wall_s,
             "p_optimal": float(p_optimal[k, i]), "p_pass_1": float(p_pass[k, i, 0]),
             "p_pass_2": float(p_pass[k, i, 1])}
            for i in range(config.seeds) for k in range(len(p_pass))]


def train_unit(config, run_dir, resume: bool = False, progress=None):
    """Like ``lica.run.train_run`` for the junction: trains ``config.env_steps // batch_size``
    updates at once (seconds, so ``resume`` starts again) and writes the exact probabilities."""
    start = time.perf_counter()
    p_pass = simulate(config, config.env_steps // config.batch_size)
    rows = metric_rows(config, p_pass, round(time.perf_counter() - start, 2))
    run_dir.write_config(config)
    run_dir.write_metrics(rows)
    if progress:
        progress(rows[-1]["env_steps"], config.env_steps, rows[-1:])
