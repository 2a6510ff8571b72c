"""Greedy evaluation of a finished run, and drawing one of its episodes (``lica eval``)."""

import jax
import jax.numpy as jnp

from lica import algos
from lica.config import merge, validate
from lica.rollout import rollout
from lica.run import RunDir
from lica.trainer import make_train


def load_run(path, **overrides):
    """``(config, program, state)`` of the run in ``path``: its saved config with ``overrides``,
    its compiled program, and the training state of its last checkpoint (every seed). Nested
    overrides (``env_args``) change only the keys they name."""
    run_dir = RunDir(path)
    saved = run_dir.read_config()
    config = validate(algos.get(saved["algo"]).Config, merge(saved, overrides))
    program = make_train(config)
    state, _, _ = run_dir.load_checkpoint(jax.eval_shape(program.init))
    return config, program, state


def evaluate_run(path, episodes: int, render_path=None) -> list[dict]:
    """Per-seed test metrics of the run's last checkpoint over ``episodes`` greedy episodes."""
    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {episodes}")
    config, program, state = load_run(path, eval_episodes=episodes)
    trainer = program.trainer
    if render_path and not hasattr(trainer.env, "render"):
        raise ValueError(f"environment '{config.env}' cannot be drawn; run without --render")
    metrics = jax.device_get(program.evaluate(state))
    rows = [{"seed": config.seed + i, **{k: float(v[i]) for k, v in metrics.items()}} for i in range(config.seeds)]
    if render_path:
        draw_episode(trainer, jax.tree.map(lambda x: x[0], state), render_path)
    return rows


def draw_episode(trainer, state, path):
    """Play one greedy episode with seed 0's policy and hand its states to ``env.render``."""
    batch, _, env_states = jax.jit(
        lambda s: rollout(trainer.env, trainer.algo, s.algo, s.key, 1, greedy=True, keep_states=True)
    )(state)
    steps = int(jnp.sum(batch.mask))  # the state before every step, then the one after the last
    frames = [jax.tree.map(lambda x: x[t, 0], env_states) for t in [*range(steps), -1]]
    trainer.env.render(frames, str(path))
