"""The paper's hyper-parameters per (algorithm, environment pattern).

Each algorithm module keeps its own ``PRESETS``: a list of ``(env pattern, overrides)`` with a
comment citing the source of every value. ``lookup(algo, env)`` merges every entry whose pattern
matches ``env`` (``fnmatch``) in the order listed, so a later, more specific entry overrides an
earlier, general one; the algorithm's ``Config`` defaults sit underneath.
"""

from fnmatch import fnmatch

from lica import algos
from lica.config import merge

# StarCraft needs no preset of its own: ``TrainConfig``'s defaults are the paper's alignment of
# every method (Sec. 4.2, following LIIR: batches of 32 episodes, evaluation every 320k steps
# with 32 greedy episodes); a map's own values (LICA's xi) are the algorithm's.

# Fig. 5's traffic junction (Sec. 4.3.1; LICA-REFERENCE): 64 episodes per update, 60 updates,
# one evaluation episode every 10 updates (the 1-step game has one state), for every algorithm;
# and LICA's 32-unit MLP agents, one per agent, for those with PyMARL-style agents.
JUNCTION_RUN = {"batch_size": 64, "env_steps": 60 * 64, "eval_interval": 640, "eval_episodes": 1}
JUNCTION_AGENTS = {"agent": "mlp", "hidden": 32, "share_params": False, "last_action_input": False}


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
