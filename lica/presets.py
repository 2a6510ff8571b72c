"""The paper's hyper-parameters per (algorithm, environment pattern).

Each algorithm module keeps its own ``PRESETS``: a list of ``(env pattern, overrides)`` with a
comment citing the source of every value. ``lookup(algo, env)`` merges every entry whose pattern
matches ``env`` (``fnmatch``) in the order listed, so a later, more specific entry overrides an
earlier, general one; the algorithm's ``Config`` defaults sit underneath.
"""

from fnmatch import fnmatch

from lica import algos
from lica.config import merge


def lookup(algo: str, env: str) -> dict:
    """Merged preset overrides for ``algo`` on ``env`` (empty if none apply)."""
    out: dict = {}
    for pattern, values in algos.get(algo).PRESETS:
        if fnmatch(env, pattern):
            out = merge(out, values)
    return out


def table() -> list[tuple[str, str, dict]]:
    """Every preset as (algo, env pattern, overrides), for ``lica list``."""
    return [(algo, pattern, values) for algo in algos.names() for pattern, values in algos.get(algo).PRESETS]
