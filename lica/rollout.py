"""Collect a ``Batch`` in vmapped environments with an algorithm's ``act`` (pure JAX): whole
episodes (``rollout``) or fixed-length segments of ongoing episodes (``segment``)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lica import ops
from lica.batch import Batch


def _concat_last(seq, last):
    """Append the final step ``last`` to the time-major sequence ``seq``."""
    return jax.tree.map(lambda s, x: jnp.concatenate([s, x[None]], axis=0), seq, last)


def _zero_padding(alive, tree):
    """Zero what environments return after their episode ended, so padding is exactly 0 (as in
    PyMARL's buffers) and no garbage or NaN from a finished episode reaches a gradient."""
    return jax.tree.map(lambda x: ops.where_leading(alive > 0, x, 0), tree)


def step_widths(n_envs: int) -> list[int]:
    """How many environments a narrowed whole-episode rollout (``rollout(narrow=True)``) steps:
    all ``n_envs``; a quarter of them once no more than that still run; a sixteenth once no more
    than that run; and so on down to 2-4. Each width compiles the environment's step again, so
    batches of under 16 keep to one."""
    widths = [n_envs]
    while n_envs >= 16 and widths[0] > 4:
        widths.insert(0, -(-widths[0] // 4))
    return widths


def step_running(env, keys, env_state, actions, alive, before, widths: list[int], seed_axis: str | None = None):
    """``vmap(env.step)`` over the environments, or, once at most a narrower one of ``widths``
    are ``alive``, over that many of them, the running ones among them: the others keep
    ``before`` (their ``obs, state, avail``) and ``env_state`` and return zero reward, termination and
    ``info``, all padding that ``rollout`` zeroes anyway. Each environment steps with its own key,
    so a running one steps as it would among all. Under a seed ``vmap`` the width is the widest
    any seed needs (``ops.seeds_max``)."""
    step = jax.vmap(env.step)
    if len(widths) == 1:
        return step(keys, env_state, actions)
    running = ops.seeds_max(jnp.sum(alive > 0).astype(jnp.int32), seed_axis)
    order = jnp.argsort(alive <= 0, stable=True)  # the running environments first

    def narrow(width):
        def go():
            picked = order[:width]
            out = step(*jax.tree.map(lambda x: x[picked], (keys, env_state, actions)))
            shaped = jax.tree.map(lambda x: jnp.zeros(alive.shape + x.shape[1:], x.dtype), out)
            full = (*before, *shaped[3:6], env_state)
            return jax.tree.map(lambda f, x: f.at[picked].set(x), full, out)
        return go

    branches = [narrow(w) for w in widths[:-1]] + [lambda: step(keys, env_state, actions)]
    return jax.lax.switch(ops.fitting_index(widths, running), branches)


def rollout(env, algo, algo_state, key, n_envs: int, greedy: bool, keep_states: bool = False,
            seed_axis: str | None = None, narrow: bool = False):
    """Play one episode in each of ``n_envs`` environments, padded to ``episode_limit`` steps.

    Returns ``(batch, episode_stats, env_states)``: ``episode_stats`` holds per-episode
    ``return``, ``length`` and each ``info`` key summed over the episode's valid steps (and
    ``episodes``, 1 per environment, as ``segment`` counts them);
    ``env_states`` is the time-major stack of environment states when ``keep_states`` (for
    rendering; the last entry is the state after the final step), else ``None``.

    The loop stops once every episode has ended (PyMARL stops its runner there too): the steps
    after that stay all-zero padding, never computed, which saves most of the work where
    episodes end far before the limit (2c_vs_64zg: ~20 of 400 steps early in training). Under
    a ``vmap`` over seeds, pass its ``seed_axis`` name: the loop then runs until every seed's
    episodes have ended, so its condition is one value, not one per seed (a per-seed condition
    would make XLA select between old and new copies of the whole record every step).

    The loop steps every environment, the finished ones too, until the last episode ends. With
    ``narrow``, once few still run it steps only those (``step_widths``, ``step_running``): the
    same batch (to float rounding), faster where a few episodes outlast the rest by far, slower
    to compile (``TrainConfig.narrow_tail`` has the numbers).
    """
    spec = env.spec
    widths = step_widths(n_envs) if narrow else [n_envs]
    reset_key, key = jax.random.split(key)
    obs, state, avail, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n_envs))
    carry = algo.init_carry((n_envs,))

    def step(loop, step_key):
        obs, state, avail, env_state, carry, alive = loop
        act_key, env_key = jax.random.split(step_key)
        obs, state = _zero_padding(alive, (obs, state))
        actions, probs, carry = algo.act(algo_state, carry, obs, avail, act_key, greedy)
        nxt = step_running(env, jax.random.split(env_key, n_envs), env_state, actions, alive,
                           (obs, state, avail), widths, seed_axis)
        next_obs, next_state, next_avail, reward, terminated, info, next_env_state = nxt
        record = _zero_padding(alive, dict(  # a step after the episode is all zeros (obs, state: above)
            avail=avail, actions=actions, probs=probs, reward=reward,
            terminated=terminated.astype(jnp.float32), mask=alive, info=info))
        record.update(obs=obs, state=state)
        record["env_state"] = env_state if keep_states else None
        alive = alive * (1.0 - terminated.astype(jnp.float32))
        return (next_obs, next_state, next_avail, next_env_state, carry, alive), record

    init = (obs, state, avail, env_state, carry, jnp.ones((n_envs,)))
    step_keys = jax.random.split(key, spec.episode_limit + 1)
    record = jax.eval_shape(step, init, step_keys[0])[1]
    seq = jax.tree.map(lambda r: jnp.zeros((spec.episode_limit,) + r.shape, r.dtype), record)

    def running(loop):
        t, (*_, alive), _ = loop
        any_alive = ops.seeds_max(jnp.any(alive > 0).astype(jnp.int32), seed_axis)
        return (t < spec.episode_limit) & (any_alive > 0)

    def body(loop):
        t, inner, seq = loop
        inner, record = step(inner, step_keys[t])
        return t + 1, inner, jax.tree.map(lambda s, r: s.at[t].set(r), seq, record)

    _, (obs, state, avail, env_state, carry, alive), seq = jax.lax.while_loop(running, body, (0, init, seq))
    obs, state = _zero_padding(alive, (obs, state))
    actions, probs, _ = algo.act(algo_state, carry, obs, avail, step_keys[-1], greedy)
    zeros = jnp.zeros((n_envs,))
    # The step after the limit, to bootstrap from; padding where the episode had ended.
    last = _zero_padding(alive, dict(obs=obs, state=state, avail=avail, actions=actions, probs=probs))
    last.update(reward=zeros, terminated=zeros, mask=zeros)
    batch = Batch(**_concat_last({k: seq[k] for k in last}, last))

    mask = seq["mask"]
    stats = {"return": jnp.sum(seq["reward"] * mask, 0), "length": jnp.sum(mask, 0), "episodes": jnp.ones((n_envs,))}
    stats.update({k: jnp.sum(v, 0) for k, v in seq["info"].items()})
    env_states = _concat_last(seq["env_state"], env_state) if keep_states else None
    return batch, stats, env_states


class Runner(NamedTuple):
    """The training environments between segments (``segment``): what the agents see now, the
    actors' carry, steps into the episode, whether the next step begins one, and the running
    sums (return, length, ``info``) of the episode under way. Every leaf leads with ``[B]``."""

    obs: jax.Array
    state: jax.Array
    avail: jax.Array
    env_state: Any
    carry: Any
    t: jax.Array
    first: jax.Array
    running: dict


def start_runner(env, algo, key, n_envs: int) -> Runner:
    """``n_envs`` environments at the start of an episode (running sums at zero)."""
    obs, state, avail, env_state = jax.vmap(env.reset)(jax.random.split(key, n_envs))
    zeros = jnp.zeros((n_envs,))
    running = {k: zeros for k in ("return", "length") + tuple(env.spec.info_keys)}
    return Runner(obs, state, avail, env_state, algo.init_carry((n_envs,)), jnp.zeros((n_envs,), jnp.int32),
                  jnp.ones((n_envs,)), running)


def segment(env, algo, algo_state, runner: Runner, key, length: int):
    """``length`` steps of every environment's ongoing episode, sampled from the policy.

    An environment whose episode ends (the task terminates it or it reaches ``episode_limit``)
    resets and goes on with a new one in the same segment; the actors' carry resets with it and
    otherwise continues into the next segment. Returns ``(batch, episode_stats, runner)``:
    ``batch`` is ``[length+1, B, ...]`` with every step valid (``Batch`` explains ``first``,
    ``carry0`` and ``terminated`` there); ``episode_stats`` holds each environment's sums over
    the episodes that *ended* in this segment (``episodes`` counts them), like ``rollout``'s.
    """
    n_envs = runner.obs.shape[0]
    limit = env.spec.episode_limit

    def step(runner, step_key):
        act_key, env_key, reset_key = jax.random.split(step_key, 3)
        actions, probs, carry = algo.act(algo_state, runner.carry, runner.obs, runner.avail, act_key, False)
        nxt = jax.vmap(env.step)(jax.random.split(env_key, n_envs), runner.env_state, actions)
        next_obs, next_state, next_avail, reward, terminated, info, next_env_state = nxt
        t = runner.t + 1
        done = (terminated > 0) | (t >= limit)
        running = {"return": runner.running["return"] + reward, "length": runner.running["length"] + 1.0,
                   **{k: runner.running[k] + info[k] for k in info}}
        ended = {k: jnp.where(done, v, 0.0) for k, v in running.items()}
        record = dict(obs=runner.obs, state=runner.state, avail=runner.avail, actions=actions, probs=probs,
                      reward=reward, terminated=done.astype(jnp.float32), mask=jnp.ones((n_envs,)),
                      first=runner.first, ended={**ended, "episodes": done.astype(jnp.float32)})
        going_on = Runner(next_obs, next_state, next_avail, next_env_state, carry, t,
                          jnp.zeros((n_envs,)), running)
        fresh = start_runner(env, algo, reset_key, n_envs)
        runner = jax.tree.map(lambda f, g: ops.where_leading(done, f, g), fresh, going_on)
        return runner, record

    carry0 = runner.carry
    runner, seq = jax.lax.scan(step, runner, jax.random.split(key, length + 1)[:-1])
    last_key = jax.random.fold_in(key, length)
    actions, probs, _ = algo.act(algo_state, runner.carry, runner.obs, runner.avail, last_key, False)
    zeros = jnp.zeros((n_envs,))
    last = dict(obs=runner.obs, state=runner.state, avail=runner.avail, actions=actions, probs=probs,
                reward=zeros, terminated=zeros, mask=zeros, first=runner.first)
    stats = {k: jnp.sum(v, 0) for k, v in seq.pop("ended").items()}
    batch = Batch(**_concat_last(seq, last), carry0=carry0)
    return batch, stats, runner
