"""Hand-written policies on a SMAX map: can the map be won at all, and by how much?

    python -m lica.tools.smac_scripted --map 2c_vs_64zg [--episodes 128]

A sanity check for the harder maps, where a learner that wins nothing may face a battle that
cannot be won in our simulation (SMAX's unit statistics, terrain only on 2c_vs_64zg;
docs/smac.md). Each policy acts on the full simulator state (a scripted controller, not a
decentralized learner):

* ``random``: uniformly random available actions (the baseline LICA's win rate is judged against);
* ``focus``: every unit attacks the weakest enemy in its range, else walks to the enemies;
* ``splash_kite``: attack the enemy with the most other enemies within 1.0 (the colossus splash
  radius), step away from the enemies while the weapon reloads, walk to them when none is in
  range, and turn along the map's edge rather than touch it (SMAX kills units that reach the
  edge). It ignores terrain: on 2c_vs_64zg it does not steer along the wall.

Prints each policy's mean return (20 is a perfect battle) and win rate.
"""

import argparse

import jax
import jax.numpy as jnp
import yaml

from lica import ops
from lica.envs import smac

NORTH, EAST, SOUTH, WEST, STOP, N_MOVES = 0, 1, 2, 3, 4, 5
EDGE_MARGIN = 3.0
SPLASH = 1.0


def _step_towards(delta):
    """The move action (north/east/south/west) best aligned with each row of ``delta``."""
    horizontal = jnp.where(delta[:, 0] > 0, EAST, WEST)
    vertical = jnp.where(delta[:, 1] > 0, NORTH, SOUTH)
    return jnp.where(jnp.abs(delta[:, 0]) > jnp.abs(delta[:, 1]), horizontal, vertical)


def _scripted(env, target_score, kite):
    sim = env.sim
    n = sim.num_allies

    def act(key, s, avail):
        in_range = avail[:, N_MOVES:] > 0
        target = jnp.argmax(jnp.where(in_range, target_score(s)[None, :], -jnp.inf), axis=-1)
        can_attack = in_range.any(-1)
        alive = s.unit_alive[n:]
        centre = (s.unit_positions[n:] * alive[:, None]).sum(0) / jnp.maximum(alive.sum(), 1)
        pos = s.unit_positions[:n]
        approach = _step_towards(centre[None] - pos)
        retreat = _step_towards(pos - centre[None])
        at_edge = (pos.min(-1) < EDGE_MARGIN) | (pos.max(-1) > sim.map_width - EDGE_MARGIN)
        along_edge = _step_towards(jnp.array([sim.map_width, sim.map_height]) / 2 - pos)
        retreat = jnp.where(at_edge, along_edge, retreat)
        reloading = kite & (s.unit_weapon_cooldowns[:n] > 0)
        return jnp.where(can_attack & ~reloading, N_MOVES + target, jnp.where(can_attack, retreat, approach))

    return act


def policies(env):
    n = env.sim.num_allies

    def random(key, s, avail):
        return jax.random.categorical(key, jnp.where(avail > 0, 0.0, -jnp.inf))

    def weakest(s):
        return -s.unit_health[n:]

    def crowded(s):
        pos, alive = s.unit_positions[n:], s.unit_alive[n:]
        near = jnp.linalg.norm(pos[:, None] - pos[None], axis=-1) < SPLASH
        return (near & alive[None] & alive[:, None]).sum(-1).astype(jnp.float32)

    return {"random": random, "focus": _scripted(env, weakest, False), "splash_kite": _scripted(env, crowded, True)}


def evaluate(env, act, episodes, seed=0, n_envs=256, chunk_steps=500):
    """``(mean return, win rate, battles)`` of ``act`` over ``episodes`` battles, rounded up to a
    multiple of the number of environments (``battles``).

    Each of ``n_envs`` vmapped environments plays its share of battles back to back, a new one
    starting where the last ended, so millions of short battles cost no padding. Every
    environment plays exactly its share (a later battle is not cut off or left out), so short
    battles are not over-represented. Jitted chunks of ``chunk_steps`` steps run until all
    shares are played.
    """
    n_envs = min(n_envs, episodes)
    share = -(-episodes // n_envs)
    limit = env.spec.episode_limit
    reset = jax.vmap(env.reset)

    def step(carry, key):
        env_state, avail, t, ret, played, total_return, wins = carry
        act_key, step_key, reset_key = jax.random.split(key, 3)
        actions = jax.vmap(act)(jax.random.split(act_key, n_envs), env_state.state, avail)
        out = jax.vmap(env.step)(jax.random.split(step_key, n_envs), env_state, actions)
        _, _, avail, reward, terminated, info, env_state = out
        counts = played < share  # an environment that has played its share plays on uncounted
        ret, t = ret + reward, t + 1
        ended = terminated | (t >= limit)
        scored = ended & counts
        total_return += jnp.where(scored, ret, 0.0)
        wins += jnp.where(scored, info["won"], 0.0)
        played += scored
        _, _, fresh_avail, fresh_state = reset(jax.random.split(reset_key, n_envs))
        fresh = (fresh_state, fresh_avail)
        env_state, avail = jax.tree.map(lambda new, old: ops.where_leading(ended, new, old), fresh, (env_state, avail))
        return (env_state, avail, jnp.where(ended, 0, t), jnp.where(ended, 0.0, ret), played, total_return, wins), None

    run = jax.jit(lambda carry, keys: jax.lax.scan(step, carry, keys)[0])
    key, reset_key = jax.random.split(jax.random.PRNGKey(seed))
    _, _, avail, env_state = reset(jax.random.split(reset_key, n_envs))
    zeros = jnp.zeros(n_envs)
    carry = (env_state, avail, jnp.zeros(n_envs, jnp.int32), zeros, jnp.zeros(n_envs, jnp.int32), zeros, zeros)
    while int(carry[4].min()) < share:
        key, chunk_key = jax.random.split(key)
        carry = run(carry, jax.random.split(chunk_key, chunk_steps))
    *_, total_return, wins = carry
    count = n_envs * share
    return float(total_return.sum()) / count, float(wins.sum()) / count, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="2c_vs_64zg", choices=smac.TASKS)
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--policy", nargs="*", choices=["random", "focus", "splash_kite"],
                        help="the policies to play (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="an argument of the map, as --set env_args.KEY=VALUE of lica train")
    args = parser.parse_args()
    pairs = [arg.partition("=") for arg in args.env_arg]
    env = smac.make(args.map, **{key: yaml.safe_load(value) for key, _, value in pairs})
    for name, act in policies(env).items():
        if args.policy and name not in args.policy:
            continue
        ret, won, battles = evaluate(env, act, args.episodes, args.seed)
        print(f"{args.map} {name:12s} return {ret:6.2f}  win rate {won:.6f} ({round(won * battles)}/{battles})")


if __name__ == "__main__":
    main()
