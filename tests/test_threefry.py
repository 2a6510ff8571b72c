"""lica's Threefry lowering on CPU (lica/threefry.py): no loop per draw, JAX's own numbers."""

import json
import subprocess
import sys

import jax

import lica  # noqa: F401  (importing lica installs the lowering)

# Run here (lica's lowering) and in a process that never imports lica (JAX's own).
DRAWS = """
import jax, numpy as np
key = jax.random.PRNGKey(7)
result = [jax.random.key_data(jax.random.split(key, 5)).tolist(), jax.random.uniform(key, (3, 4)).tolist(),
          jax.random.categorical(key, np.zeros((6, 11))).tolist()]
"""


def test_draws_compile_without_a_loop_and_equal_jaxs_own_lowering():
    text = jax.jit(lambda k: jax.random.uniform(k, (32, 5))).lower(jax.random.PRNGKey(0)).compile().as_text()
    assert " while(" not in text
    ours = {}
    exec(DRAWS, ours)
    plain = subprocess.run([sys.executable, "-c", DRAWS + "print(__import__('json').dumps(result))"],
                           capture_output=True, text=True, check=True).stdout
    assert ours["result"] == json.loads(plain)
