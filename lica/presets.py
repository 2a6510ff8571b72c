"""The paper's hyper-parameters per (algorithm, environment), each citing its source.

``lookup(algo, env)`` merges every entry whose pattern matches ``env`` (``fnmatch``), in the
order listed, so a later, more specific entry overrides an earlier, general one. The algorithm's
``Config`` defaults (StarCraft settings for LICA, A1.1) sit underneath.
"""

from fnmatch import fnmatch

from lica.config import merge

PRESETS: dict[str, list[tuple[str, dict]]] = {
    "lica": [
        # StarCraft (A1.1): the Config defaults are these maps' settings; xi per map below.
        ("smac:*", {"batch_size": 32, "eval_interval": 320_000, "eval_episodes": 32}),
        ("smac:5m_vs_6m", {"xi": 0.11}),  # A1.1
        ("smac:3s5z_vs_3s6z", {"xi": 0.03}),  # A1.1
        # Particle environments (A1.2, following SQDDPG's defaults): MLP agents with 1 hidden
        # layer and no parameter sharing, lr 3e-4 for both nets, one-step TD critic targets
        # (td_lambda = 0), target networks every 200 iterations.
        ("mpe:*", {"agent": "mlp", "share_params": False, "last_action_input": False,
                   "lr_policy": 3e-4, "lr_critic": 3e-4, "td_lambda": 0.0,
                   "target_update_interval": 200, "eval_interval": 100_000, "eval_episodes": 32}),
        ("mpe:spread-*", {"hidden": 32, "gamma": 0.9, "xi": 0.1, "batch_size": 32}),  # A1.2
        ("mpe:spread-5", {"xi": 0.2}),  # A1.2
        ("mpe:predator-prey", {"hidden": 128, "gamma": 0.99, "xi": 0.1, "batch_size": 128}),  # A1.2
        # Traffic junction (Sec. 4.3.1, Fig. 5): one step, no entropy term (LICA-REFERENCE),
        # Adam lr 0.01 for both nets, 60 updates; a full batch covers the four joint actions.
        ("junction", {"agent": "mlp", "hidden": 32, "share_params": False, "last_action_input": False,
                      "lr_policy": 0.01, "lr_critic": 0.01, "xi": 0.0, "td_lambda": 0.0,
                      "batch_size": 64, "env_steps": 60 * 64, "eval_interval": 640,
                      "eval_episodes": 1, "critic": "mlp", "critic_embed": 32}),
    ],
}


def lookup(algo: str, env: str) -> dict:
    """Merged preset overrides for ``algo`` on ``env`` (empty if none apply)."""
    out: dict = {}
    for pattern, values in PRESETS.get(algo, []):
        if fnmatch(env, pattern):
            out = merge(out, values)
    return out


def table() -> list[tuple[str, str, dict]]:
    """Every preset as (algo, env pattern, overrides), for ``lica list``."""
    return [(algo, pattern, values) for algo, entries in PRESETS.items() for pattern, values in entries]
