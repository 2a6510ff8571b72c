"""One on-disk cache of compiled programs for a test run, shared by its xdist workers.

Many tests compile a program another test compiled already (a resumed run rebuilds its run's
program, the regression tests build what other tests build), and JAX keys its persistent cache
on the program itself, not on the Python closure. On 2 cores, tests/test_checkpoints.py and
tests/test_regression.py took 5 min 37 s without the cache and 4 min 17 s with it (empty at the
start). The cache lives in a fresh temporary directory, removed at the end, so no run reads
another's.
"""

import os
import shutil
import tempfile

_CACHE = "LICA_TEST_COMPILATION_CACHE"
_created = []  # the directory this process made, to remove at the end


def pytest_configure(config):
    if _CACHE not in os.environ:  # the controlling process: xdist workers inherit the variable
        _created.append(tempfile.mkdtemp(prefix="lica-test-jax-cache-"))
        os.environ[_CACHE] = _created[0]
    import jax
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def pytest_unconfigure(config):
    for directory in _created:
        shutil.rmtree(directory, ignore_errors=True)
