"""Fig. 5: the 1-step traffic junction over many random initializations, in one vmapped run.

Each initialization is a seed of the ordinary training program (``lica.train``) with the
junction preset; after every update we read the exact policy probabilities, so the curve is
P(optimal joint action) = p1(1-p2) + (1-p1)p2 with p_i = P(agent i passes), not a sample.
"""

import jax
import jax.numpy as jnp
import numpy as np

from lica.config import resolve
from lica.envs.junction import PASS
from lica.train import make_trainer


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


def run(algo: str = "lica", inits: int = 1000, iterations: int = 60, seed: int = 0, sets=()):
    """Train ``inits`` initializations for ``iterations`` updates each.

    Returns ``{"p_pass": [iterations+1, inits, 2], "p_optimal": [iterations+1, inits]}``, step 0
    being the untrained policy.
    """
    config = resolve("junction", algo, sets=list(sets), seeds=inits, seed=seed)
    trainer = make_trainer(config)

    def one_init(key):
        ts = trainer.init(key)

        def step(ts, _):
            ts, _ = trainer.update(ts)
            return ts, pass_probabilities(trainer, ts)

        _, p = jax.lax.scan(step, ts, None, length=iterations)
        return jnp.concatenate([pass_probabilities(trainer, ts)[None], p])

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(inits) + seed)
    p_pass = np.asarray(jax.jit(jax.vmap(one_init, out_axes=1))(keys))
    return {"p_pass": p_pass, "p_optimal": optimal_probability(p_pass)}


def plot(results: dict[str, dict], path):
    """Mean and standard deviation of P(optimal joint action) per iteration, one curve per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, res in results.items():
        p = res["p_optimal"]
        mean, std = p.mean(1), p.std(1)
        x = np.arange(len(mean))
        ax.plot(x, mean, label=name.upper())
        ax.fill_between(x, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), alpha=0.25)
    ax.set(xlabel="training iteration", ylabel="P(optimal joint action)", ylim=(0, 1.02),
           title="1-step traffic junction")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    """``python -m lica.experiments.junction [ALGO ...] [--inits N] [--out FIG.png]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Fig. 5: the 1-step traffic junction")
    parser.add_argument("algos", nargs="*", default=["lica"])
    parser.add_argument("--inits", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--out", default="fig5_junction.png")
    args = parser.parse_args()
    results = {name: run(name, args.inits, args.iterations) for name in args.algos}
    for name, res in results.items():
        p = res["p_optimal"]
        chosen = np.round(res["p_pass"][-1])
        print(f"{name}: P(optimal joint action) after {args.iterations} iterations, mean {p[-1].mean():.3f} "
              f"std {p[-1].std():.3f} over {args.inits} inits (start {p[0].mean():.3f}); rounded policies "
              f"(pass, wait) {np.mean((chosen == [1, 0]).all(1)):.3f}, (wait, pass) {np.mean((chosen == [0, 1]).all(1)):.3f}")
    plot(results, args.out)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
