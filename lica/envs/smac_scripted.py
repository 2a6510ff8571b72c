"""Hand-written policies on a SMAX map: can the map be won at all, and by how much?

    python -m lica.envs.smac_scripted --map 2c_vs_64zg [--episodes 128]

A sanity check for the harder maps, where a learner that wins nothing may face a battle that
cannot be won in our simulation (no terrain, SMAX's unit statistics; docs/smac.md). Each policy
acts on the full simulator state (a scripted controller, not a decentralized learner):

* ``random``: uniformly random available actions (the baseline LICA's win rate is judged against);
* ``focus``: every unit attacks the weakest enemy in its range, else walks to the enemies;
* ``splash_kite``: attack the enemy with the most other enemies within 1.0 (the colossus splash
  radius), step away from the enemies while the weapon reloads, walk to them when none is in
  range, and turn along the edge rather than touch it (SMAX kills units that reach the edge).

Prints each policy's mean return (20 is a perfect battle) and win rate.
"""

import argparse

import jax
import jax.numpy as jnp

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


def evaluate(env, act, episodes, seed=0):
    """Mean return and win rate of ``act`` over ``episodes`` battles of at most the map's limit."""

    def episode(key):
        reset_key, key = jax.random.split(key)
        _, _, avail, env_state = env.reset(reset_key)

        def step(carry, key):
            env_state, avail, over, ret, won = carry
            act_key, step_key = jax.random.split(key)
            actions = act(act_key, env_state.state, avail)
            _, _, avail, reward, terminated, info, env_state = env.step(step_key, env_state, actions)
            live = 1.0 - over
            return (env_state, avail, jnp.maximum(over, terminated), ret + live * reward, won + live * info["won"]), None

        init = (env_state, avail, 0.0, 0.0, 0.0)
        (*_, ret, won), _ = jax.lax.scan(step, init, jax.random.split(key, env.spec.episode_limit))
        return ret, won

    ret, won = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(seed), episodes))
    return float(ret.mean()), float(won.mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="2c_vs_64zg", choices=smac.TASKS)
    parser.add_argument("--episodes", type=int, default=128)
    args = parser.parse_args()
    env = smac.make(args.map)
    for name, act in policies(env).items():
        ret, won = evaluate(env, act, args.episodes)
        print(f"{args.map} {name:12s} return {ret:6.2f}  win rate {won:.3f} ({round(won * args.episodes)}/{args.episodes})")


if __name__ == "__main__":
    main()
