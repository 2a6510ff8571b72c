"""A jaxlib CPU deadlock, reduced to a few lines of plain JAX (no lica), for an upstream report.

    python docs/upstream/jaxlib_cpu_deadlock.py [--runs 10] [--timeout 15]

The program: three QR decompositions of random 64x64 matrices, ``vmap``ped over two PRNG keys
(the shape of a Flax orthogonal initializer inside a seed-vmapped init). Each run is a fresh
process, since XLA reads its flags when the CPU backend starts. With
``--xla_cpu_enable_concurrency_optimized_scheduler=true`` a run sometimes never returns: every
thread waits and the result never arrives. With the scheduler off it always returns.

Measured here (jax/jaxlib 0.10.2, 2 idle cores, 10 runs each, 15 s limit; a run takes ~1 s):
scheduler on, 4 of 10 hung; scheduler off, 0 of 10. QMIX's seed-vmapped init (which draws its
GRU's recurrent kernels orthogonally) hung 4 of 4 times the same way. A busy machine hides it:
with both cores also running two training jobs at nice 19, 0 of 10 hung (scheduler on).

The workaround (``lica/__init__.py``) turns the scheduler off unless the user sets the flag.
"""

import argparse
import subprocess
import sys

PROGRAM = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_cpu_enable_concurrency_optimized_scheduler=" + sys.argv[1]
import jax, jax.numpy as jnp

def three_qrs(key):
    return [jnp.linalg.qr(jax.random.normal(k, (64, 64)))[0] for k in jax.random.split(key, 3)]

jax.block_until_ready(jax.jit(jax.vmap(three_qrs))(jax.random.split(jax.random.PRNGKey(0), 2)))
"""


def hangs(scheduler: str, runs: int, timeout: float) -> int:
    """How many of ``runs`` fresh processes did not finish within ``timeout`` seconds."""
    hung = 0
    for _ in range(runs):
        try:
            subprocess.run([sys.executable, "-c", PROGRAM, scheduler], check=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            hung += 1
    return hung


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    import jax

    print(f"jax {jax.__version__}; {args.runs} runs per setting, {args.timeout:g} s each")
    for scheduler in ("true", "false"):
        print(f"concurrency-optimized scheduler {scheduler}: {hangs(scheduler, args.runs, args.timeout)} hung")


if __name__ == "__main__":
    main()
