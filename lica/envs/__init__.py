"""Environment registry. Names are ``family`` or ``family:task`` (DESIGN.md), or the import path
of your own environment.

Each family is a module with ``make(task, **env_args)`` and a ``TASKS`` tuple; families are
imported lazily so that, for instance, the traffic junction never imports SMAX. Installed packages
add families under the ``lica.envs`` entry-point group (name = family, value = its module).

Any other ``module.path:callable`` names your own environment: ``make`` imports the module and
calls ``callable(**env_args)``, which must return an object speaking ``lica.envs.base``'s protocol
(``examples/corridor.py`` is one).
"""

import contextlib
import functools
import importlib
import os
import sys
from importlib.metadata import entry_points

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


def families() -> dict[str, str]:
    """Family name -> module: ours, then those installed packages register (``lica.envs``)."""
    return {**FAMILIES, **{ep.name: ep.value for ep in entry_points(group="lica.envs")}}


def _unknown(name: str, why: str = "") -> ValueError:
    return ValueError(f"unknown environment '{name}'{why}; choose one of: {', '.join(names())}, "
                      "or give your own as module.path:callable")


def _family(name: str):
    family = name.split(":", 1)[0]
    known = families()
    if family not in known:
        return None
    with _quietly():
        return importlib.import_module(known[family])


def _own(name: str):
    """The callable that ``name`` = ``module.path:callable`` points to (your own environment)."""
    path, sep, attr = name.partition(":")
    if not sep or not attr:
        raise _unknown(name)
    if os.getcwd() not in sys.path:  # a module in the working directory, as ``python -m`` finds it
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as e:
        if e.name and path.startswith(e.name):  # the module itself is missing, not one it imports
            raise _unknown(name, f" (no module named '{path}')") from None
        raise
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"environment '{name}': module '{path}' has no callable '{attr}'")
    return fn


def names() -> list[str]:
    """Every registered environment name (``lica list``)."""
    out = []
    for family in families():
        tasks = _family(family).TASKS
        out += [f"{family}:{t}" for t in tasks] if tasks else [family]
    return out


def check_name(name: str):
    """The function that builds ``name`` from ``env_args``; a one-line ValueError unless ``name``
    names a registered environment or an importable ``module.path:callable``."""
    module = _family(name)
    if module is None:
        return _own(name)
    family, _, task = name.partition(":")
    if module.TASKS and task not in module.TASKS and family != "jaxmarl":
        raise _unknown(name)
    return functools.partial(module.make, task or None)


def make(name: str, **env_args) -> Env:
    """Build the environment called ``name`` (e.g. ``mpe:spread-3``, or ``mymodule:make``)."""
    build = check_name(name)
    with _quietly():
        env = build(**env_args)
    check_protocol(name, env)
    return env


def check_protocol(name: str, env):
    """A one-line ValueError unless ``env`` has a ``spec`` (``EnvSpec``), ``reset`` and ``step``."""
    missing = [a for a in ("spec", "reset", "step") if not hasattr(env, a)]
    if missing or not isinstance(env.spec, EnvSpec):
        what = f"no {', '.join(missing)}" if missing else "a spec that is not an EnvSpec"
        raise ValueError(f"environment '{name}' gave a {type(env).__name__} with {what}; "
                         "see lica/envs/base.py for the protocol")


__all__ = ["Env", "EnvSpec", "check_name", "check_protocol", "families", "make", "names"]
