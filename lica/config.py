"""Typed run configuration, validated at the edge (DESIGN.md).

A run's config is built in layers, each overriding the one before: the algorithm's defaults
(its ``Config`` class), the presets for the (algorithm, environment) pair (``lica.presets``), a
YAML file (``--config``: a path, or the name of one shipped in ``lica/configs/``), ``--set
key=value`` pairs, and explicit CLI options. Unknown keys and
bad values raise ``ConfigError`` with a one-line message naming the key.
"""

import inspect
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError


class ConfigError(ValueError):
    """A configuration problem, with a one-line message that names the key and the fix."""


class TrainConfig(BaseModel):
    """Settings every algorithm shares: what to train on, for how long, how to evaluate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str  # environment name (lica list), or module.path:callable
    env_args: dict[str, Any] = Field(default_factory=dict)  # keyword arguments of the environment
    algo: str = "lica"  # algorithm name (lica list)
    seeds: PositiveInt = 1  # independent runs, vmapped in one process
    seed: int = 0  # seed i of a run uses PRNGKey(seed + i)
    env_steps: PositiveInt = 2_000_000  # training budget per seed
    batch_size: PositiveInt = 32  # parallel environments: episodes (or segments) per update (A1.1)
    # What an update learns from: whole episodes, padded to the limit (PyMARL's and the paper's
    # StarCraft setting), or ``segment_length`` steps of every environment's ongoing episode
    # (on-policy learners only; the particle presets; ``lica.rollout.segment``).
    rollout: Literal["episodes", "segments"] = "episodes"
    segment_length: PositiveInt = 25  # env steps per segment (rollout=segments)
    # Whole-episode rollouts (training and evaluation): once at most a quarter of the batch's
    # episodes still run, step only those (``lica.rollout.step_widths``). The same batches to
    # float rounding (2e-7). It pays where a few episodes outlast the rest by far, as on
    # smac:2c_vs_64zg once battles start to time out (LIIR at 2.3M steps: rollouts 4.8x faster),
    # and costs compilation everywhere (smac:2s3z's rollout: 12 s -> 27 s, with no gain there).
    narrow_tail: bool = False
    eval_interval: PositiveInt = 320_000  # env steps between greedy evaluations (Sec. 4.2)
    eval_episodes: PositiveInt = 32  # greedy test episodes per evaluation (Sec. 4.2)
    # Env steps between the host's chances to checkpoint (``lica.run.train_run`` writes one there
    # when ``CHECKPOINT_SECONDS`` have passed since the last): what a kill can lose. Leaves
    # learning unchanged; null: checkpoint at evaluations only.
    checkpoint_interval: PositiveInt | None = 10_000
    # Parameter initialization: PyTorch's defaults, as in the reference code, or Flax's
    # (``lica.nets.initialize``; measured on smac:2s3z in the lica preset's comment).
    init: Literal["torch", "flax"] = "torch"


def parse_set(pairs: list[str]) -> dict[str, Any]:
    """``["xi=0.1", "env_args.max_steps=25"]`` -> ``{"xi": 0.1, "env_args": {"max_steps": 25}}``.

    Values are read as YAML scalars, so numbers, booleans and null come out typed.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got '{pair}'")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge: ``override`` wins; nested dicts (``env_args``) merge key by key."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# Named config files shipped with the package: documented deviations from the paper's settings
# (each file's comments say what it changes and what that was measured to do).
PACKAGED = Path(__file__).parent / "configs"


def packaged_configs() -> list[str]:
    """Names of the config files in ``lica/configs/`` (``--config NAME``)."""
    return sorted(p.stem for p in PACKAGED.glob("*.yaml"))


def load_file(path: str | Path) -> dict:
    """The mapping in YAML file ``path``, or in the packaged config of that name when no such
    file exists."""
    path = Path(path)
    if not path.exists() and path.stem in packaged_configs() and path.name == path.stem:
        path = PACKAGED / f"{path.stem}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        known = ", ".join(packaged_configs())
        raise ConfigError(f"config file '{path}' not found; give a YAML file's path or one of: {known}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file '{path}' is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of key: value")
    return data


def describe(config_cls: type[BaseModel]) -> list[tuple[str, str, str]]:
    """``(key, default, meaning)`` of every key of ``config_cls``, the meaning taken from the
    comment after the key's line, or else the comment lines just above it, in the source of the
    class that last defines it."""
    meaning = {}
    for cls in reversed(config_cls.__mro__):
        if issubclass(cls, BaseModel) and cls is not BaseModel:
            above = []
            for line in inspect.getsource(cls).splitlines():
                comment = re.match(r"\s+#\s?(.*)$", line)
                field = re.match(r"\s+(\w+):[^#=]*(?:=[^#]*)?(?:#\s*(.*))?$", line)
                if comment:
                    above.append(comment[1])
                elif field:
                    meaning[field[1]] = field[2] or " ".join(above)
                    above = []
                else:
                    above = []
    out = []
    for key, field in config_cls.model_fields.items():
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        out.append((key, default, meaning.get(key, "")))
    return out


# Keys that once had another name: the same concept has one key in every algorithm.
RENAMED = {"lr": "lr_policy", "critic_lr": "lr_critic",  # COMA and LIIR, like LICA and the DDPGs
           "ent_coef": "entropy_coef", "gae_lambda": "td_lambda"}  # PPO (JaxMARL's names), like the DDPGs and LICA


def renamed(config_cls: type[BaseModel], key: str) -> str | None:
    """The new name of ``key`` where ``config_cls`` knows it only by that name."""
    new = RENAMED.get(key)
    fields = config_cls.model_fields
    return new if new in fields and key not in fields else None


def upgrade(config_cls: type[BaseModel], values: dict) -> dict:
    """A saved config (``config.yaml`` of an older run) with renamed keys under their new names."""
    return {renamed(config_cls, k) or k: v for k, v in values.items()}


def validate(config_cls: type[BaseModel], values: dict) -> BaseModel:
    """Build ``config_cls`` from ``values``; a validation failure becomes a one-line ConfigError."""
    try:
        return config_cls(**values)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "config"
        if err["type"] == "extra_forbidden" and renamed(config_cls, key):
            raise ConfigError(f"config key '{key}' is now '{renamed(config_cls, key)}'") from None
        if err["type"] == "extra_forbidden":
            valid = ", ".join(sorted(config_cls.model_fields))
            raise ConfigError(f"unknown config key '{key}'; valid keys: {valid}") from None
        raise ConfigError(f"bad value for config key '{key}': {err['msg']} (got {err.get('input')!r})") from None


def resolve(env: str, algo: str, file: str | None = None, sets: list[str] = (), env_object=None,
            **options) -> BaseModel:
    """The full config of a run: defaults < presets < file < ``--set`` < explicit options.
    ``env_object``: the environment itself (``lica.train``), which ``env`` then only names."""
    from lica import algos, envs, presets

    module = algos.get(algo)
    if env_object is None:
        envs.check_name(env)
    else:
        envs.check_protocol(env, env_object)
    values = merge(presets.lookup(algo, env), load_file(file) if file else {})
    values = merge(values, parse_set(list(sets)))
    values = merge(values, {k: v for k, v in options.items() if v is not None})
    given = {"env": env, "algo": algo}
    for key, value in given.items():
        if key in values and values[key] != value:
            raise ConfigError(f"config key '{key}' cannot be set in a file or --set; use --{key}")
    return validate(module.Config, {**values, **given})
