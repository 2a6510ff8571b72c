"""Algorithm registry. An algorithm is a module with a pydantic ``Config`` (a subclass of
``lica.config.TrainConfig``) and ``make(spec, config) -> Algorithm`` (``lica.algos.base``)."""

import importlib

ALGORITHMS = {
    "lica": "lica.algos.lica",
    "random": "lica.algos.uniform",
    "coma": "lica.algos.coma",
    "liir": "lica.algos.liir",
    "iddpg": "lica.algos.iddpg",
    "maddpg": "lica.algos.maddpg",
    "sqddpg": "lica.algos.sqddpg",
    "vdn": "lica.algos.vdn",
    "qmix": "lica.algos.qmix",
    "qtran": "lica.algos.qtran",
    "ippo": "lica.algos.ippo",  # beyond the paper
    "mappo": "lica.algos.mappo",  # beyond the paper
}


def names() -> list[str]:
    return list(ALGORITHMS)


def get(name: str):
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm '{name}'; choose one of: {', '.join(ALGORITHMS)}")
    return importlib.import_module(ALGORITHMS[name])


def make(config, spec):
    """Build the algorithm named in ``config`` for an environment with ``spec``."""
    return get(config.algo).make(spec, config)
