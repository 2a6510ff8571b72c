"""lica-marl: LICA and its baselines for cooperative multi-agent RL, in JAX."""

import os

# jaxlib 0.10's CPU runtime can deadlock when its concurrency-optimized scheduler runs some
# programs on more than one core: every thread waits and the result never arrives. QMIX's
# seed-vmapped init did so every time on a 2-core machine; a vmapped QR (the orthogonal
# initializer) is enough, 4 runs in 10 (docs/upstream/jaxlib_cpu_deadlock.py, plain JAX);
# pinned to one core, or with this scheduler off, it does not. XLA reads XLA_FLAGS when the
# CPU backend starts, so this must run before the first computation; a user's own setting wins.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
if _SCHEDULER_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}=false".strip()

from lica.api import Run, evaluate, train  # noqa: E402  (after the flag above: it must precede jax)
from lica.threefry import unroll_on_cpu  # noqa: E402

unroll_on_cpu()  # before anything is compiled (lica/threefry.py says why)

__all__ = ["Run", "evaluate", "train"]
