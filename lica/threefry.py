"""JAX's random numbers on CPU without a loop per draw.

Every draw of JAX's default generator runs the Threefry-2x32 hash: 20 rounds of integer
additions, rotations and xors. On CPU, JAX lowers those rounds as a ``fori_loop`` of 5 steps (a
smaller program, compiled faster), and XLA's CPU runtime then dispatches each step's handful of
tiny kernels one by one. A training step draws many times (the agents' actions, the
environments' keys, every one of SMAX's 8 world steps per env step), and for small draws that
dispatch, not the arithmetic, is most of a draw's cost. The unrolled lowering, which JAX uses on
GPU, computes the same numbers with no loop, so XLA fuses each draw into one kernel.
"""

import warnings


def unroll_on_cpu() -> bool:
    """Lower Threefry on CPU as JAX lowers it elsewhere (unrolled); the numbers are the same to
    the bit. Returns whether it took effect: it reaches into JAX's internals, so a JAX release
    that moves them leaves JAX's own lowering in place (with a warning), slower but correct."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32
        rule = threefry2x32._threefry2x32_lowering_rule
        mlir.register_lowering(threefry2x32.threefry2x32_p, rule, platform="cpu")
    except (ImportError, AttributeError) as e:
        warnings.warn(f"lica: JAX's Threefry lowering on CPU stays looped ({e}); training is slower, "
                      "results are the same", RuntimeWarning, stacklevel=2)
        return False
    return True
