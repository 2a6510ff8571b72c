"""Environment registry. Names are ``family`` or ``family:task`` (DESIGN.md).

Each family is a module with ``make(task, **env_args)`` and a ``TASKS`` tuple; families are
imported lazily so that, for instance, the traffic junction never imports SMAX.
"""

import contextlib
import importlib
import os
import sys

from lica.envs.base import Env, EnvSpec

FAMILIES = {
    "junction": "lica.envs.junction",
    "mpe": "lica.envs.mpe",
    "smac": "lica.envs.smac",
    "jaxmarl": "lica.envs.jaxmarl_adapter",
}


@contextlib.contextmanager
def _quietly():
    """jaxmarl prints a notice about its optional environments on its first import (at a family's
    import or, lazily, at ``make``); users see nothing of it. It reaches the terminal past
    ``sys.stdout``, so file descriptor 1 itself points at the null device meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _family(name: str):
    family = name.split(":", 1)[0]
    if family not in FAMILIES:
        raise ValueError(f"unknown environment '{name}'; choose one of: {', '.join(names())}")
    with _quietly():
        return importlib.import_module(FAMILIES[family])


def names() -> list[str]:
    """Every registered environment name (``lica list``)."""
    out = []
    for family in FAMILIES:
        tasks = _family(family).TASKS
        out += [f"{family}:{t}" for t in tasks] if tasks else [family]
    return out


def check_name(name: str):
    """Raise a one-line ValueError unless ``name`` names a registered environment."""
    module = _family(name)
    family, _, task = name.partition(":")
    if module.TASKS and task not in module.TASKS and family != "jaxmarl":
        raise ValueError(f"unknown environment '{name}'; choose one of: {', '.join(names())}")
    return module, task or None


def make(name: str, **env_args) -> Env:
    """Build the environment called ``name`` (e.g. ``mpe:spread-3``)."""
    module, task = check_name(name)
    with _quietly():
        return module.make(task, **env_args)


__all__ = ["Env", "EnvSpec", "check_name", "make", "names"]
