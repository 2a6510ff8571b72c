"""Environment registry. Names are ``family`` or ``family:task`` (DESIGN.md).

Each family is a module with ``make(task, **env_args)`` and a ``TASKS`` tuple; families are
imported lazily so that, for instance, the traffic junction never imports SMAX.
"""

import importlib

from lica.envs.base import Env, EnvSpec

FAMILIES = {
    "junction": "lica.envs.junction",
    "mpe": "lica.envs.mpe",
    "smac": "lica.envs.smac",
    "jaxmarl": "lica.envs.jaxmarl_adapter",
}


def _family(name: str):
    family = name.split(":", 1)[0]
    if family not in FAMILIES:
        raise ValueError(f"unknown environment '{name}'; choose one of: {', '.join(names())}")
    return importlib.import_module(FAMILIES[family])


def names() -> list[str]:
    """Every registered environment name (``lica list``)."""
    out = []
    for family in FAMILIES:
        tasks = importlib.import_module(FAMILIES[family]).TASKS
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
    return module.make(task, **env_args)


__all__ = ["Env", "EnvSpec", "check_name", "make", "names"]
