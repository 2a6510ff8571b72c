"""One on-disk cache of compiled programs for a test run, shared by every process it starts.

Many tests compile a program another test compiled already (a resumed run rebuilds its run's
program, the Ray tests train what the local runner trained), and JAX keys its persistent cache
on the program itself, not on the Python closure. On 2 cores, tests/test_checkpoints.py and
tests/test_regression.py took 5 min 37 s without the cache and 4 min 17 s with it (empty at the
start). JAX reads the cache's settings from the environment, which xdist workers, Ray's
workers and the tests' subprocesses inherit. The cache lives in a fresh temporary directory,
removed at the end, so no run reads another's.
"""

import os
import shutil
import tempfile

_created = []  # the directory this process made, to remove at the end
_MIN_COMPILE_SECONDS = "0.2"  # programs compiled faster than this are not worth a file


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controlling process: xdist workers inherit the variables
        _created.append(tempfile.mkdtemp(prefix="lica-test-jax-cache-"))
        os.environ["JAX_COMPILATION_CACHE_DIR"] = _created[0]
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = _MIN_COMPILE_SECONDS
    import jax  # a plugin may have imported it before the variables were set

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(_MIN_COMPILE_SECONDS))


def pytest_unconfigure(config):
    for directory in _created:
        shutil.rmtree(directory, ignore_errors=True)
