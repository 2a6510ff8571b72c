"""Algorithm registry. An algorithm is a module with a pydantic ``Config`` (a subclass of
``lica.config.TrainConfig``) and ``make(spec, config) -> Algorithm`` (``lica.algos.base``).

Modules are grouped by family: ``lica`` and ``random_policy`` on their own; ``pymarl`` (COMA,
LIIR, VDN, QMIX, QTRAN), ``ddpg`` (IDDPG, MADDPG, SQDDPG) and ``ppo`` (IPPO, MAPPO), each
family's shared code in the package next to its algorithms."""

import importlib
import inspect

ALGORITHMS = {
    "lica": "lica.algos.lica",
    "random": "lica.algos.random_policy",
    "coma": "lica.algos.pymarl.coma",
    "liir": "lica.algos.pymarl.liir",
    "iddpg": "lica.algos.ddpg.iddpg",
    "maddpg": "lica.algos.ddpg.maddpg",
    "sqddpg": "lica.algos.ddpg.sqddpg",
    "vdn": "lica.algos.pymarl.vdn",
    "qmix": "lica.algos.pymarl.qmix",
    "qtran": "lica.algos.pymarl.qtran",
    "ippo": "lica.algos.ppo.ippo",  # beyond the paper
    "mappo": "lica.algos.ppo.mappo",  # beyond the paper
}


def names() -> list[str]:
    return list(ALGORITHMS)


def get(name: str):
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm '{name}'; choose one of: {', '.join(ALGORITHMS)}")
    return importlib.import_module(ALGORITHMS[name])


def make(config, spec, seed_axis: str | None = None):
    """Build the algorithm named in ``config`` for an environment with ``spec``.

    ``seed_axis`` names the ``vmap`` over seeds that training runs the algorithm under (None:
    not vmapped). An algorithm whose ``make`` takes it (the value-based learners, which cut the
    episodes they replay, ``lica.trim``) gets it; the others do not need it.
    """
    module = get(config.algo)
    if "seed_axis" in inspect.signature(module.make).parameters:
        return module.make(spec, config, seed_axis=seed_axis)
    return module.make(spec, config)
