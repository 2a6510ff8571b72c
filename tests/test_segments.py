"""Fixed-length segments of ongoing episodes (``rollout='segments'``, DESIGN.md "Two ways to
collect a batch"): resets inside a segment, carries across segments, targets that never cross
an episode's end, and LICA learning Cooperative Navigation on 200-step episodes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica import ops
from lica.algos.pymarl import common
from lica.algos.pymarl.common import unroll
from lica.config import ConfigError, resolve
from lica.envs.base import EnvSpec
from lica.rollout import segment, start_runner
from lica.trainer import make_train, make_trainer


class CountingEnv:
    """2 agents; the observation is (steps into the episode, episode id); an episode ends by
    termination when an agent picks action 2, else at the limit of 4 steps."""

    spec = EnvSpec(n_agents=2, obs_dim=2, state_dim=2, n_actions=3, episode_limit=4)

    def reset(self, key):
        episode = jax.random.uniform(key)
        return self._obs(0, episode), jnp.array([0.0, episode]), jnp.ones((2, 3)), (jnp.int32(0), episode)

    def _obs(self, t, episode):
        return jnp.broadcast_to(jnp.array([t, episode], jnp.float32), (2, 2))

    def step(self, key, env_state, actions):
        t, episode = env_state
        t = t + 1
        terminated = jnp.any(actions == 2)
        return (self._obs(t, episode), jnp.array([t, episode], jnp.float32), jnp.ones((2, 3)), jnp.float32(t),
                terminated, {}, (t, episode))


def play(name, sets=(), segments=3, length=5, n_envs=3):
    config = resolve("mpe:spread-3", name, sets=["rollout=segments", "agent=rnn", "last_action_input=true",
                                                  "share_params=true", *sets])
    env = CountingEnv()
    trainer = make_trainer(config, env)
    state = trainer.algo.init(jax.random.PRNGKey(0))
    runner = start_runner(env, trainer.algo, jax.random.PRNGKey(1), n_envs)
    out = []
    run = jax.jit(lambda r, k: segment(env, trainer.algo, state, r, k, length))
    for i in range(segments):
        batch, stats, runner = run(runner, jax.random.PRNGKey(10 + i))
        out.append((batch, stats))
    return trainer, state, out


def test_segments_reset_finished_episodes_and_continue_the_rest():
    _, _, out = play("lica")
    t_prev = None
    for batch, stats in out:
        t = np.asarray(batch.obs[:, :, 0, 0])  # steps into the episode at every step [6, 3]
        done = np.asarray(batch.terminated[:-1]) > 0
        first = np.asarray(batch.first)
        np.testing.assert_array_equal(np.asarray(batch.mask), np.r_[np.ones((5, 3)), np.zeros((1, 3))])
        # after an end the next step is a fresh episode (t = 0, first = 1), else t counts on
        np.testing.assert_array_equal(t[1:][done], 0)
        np.testing.assert_array_equal(first[1:], done.astype(np.float32))
        np.testing.assert_array_equal(t[1:][~done], t[:-1][~done] + 1)
        assert t.max() <= 3 and np.all(done[t[:-1] == 3])  # the limit of 4 steps ends an episode
        if t_prev is not None:  # a segment starts where the one before left off (its step T)
            np.testing.assert_array_equal(t[0], t_prev)
        t_prev = t[-1]
        # stats: sums over the episodes that ended here (reward t per step: return 1+2+..+length)
        assert float(stats["episodes"].sum()) == done.sum()
        lengths = (t[:-1] + 1)[done]
        np.testing.assert_allclose(float(stats["length"].sum()), lengths.sum())
        np.testing.assert_allclose(float(stats["return"].sum()), (lengths * (lengths + 1) / 2).sum())
    assert sum(float(s["episodes"].sum()) for _, s in out) >= 3  # episodes did end


def test_unrolling_a_segment_replays_the_probabilities_the_rollout_sampled_from():
    # The recurrent carry continues across segments and resets at every episode start: an
    # unroll from batch.carry0 with batch.first must see exactly what the acting agents saw.
    for name in ("lica", "coma"):
        sets = ["epsilon_start=0", "epsilon_finish=0"] if name == "coma" else []
        trainer, state, out = play(name, sets, segments=4, length=3)
        mid_episode = 0
        for batch, _ in out[1:]:
            logits, _ = unroll(trainer_policy(trainer, name), state.policy, batch)
            probs = ops.masked_probs(logits, batch.avail)
            np.testing.assert_allclose(probs, batch.probs, rtol=1e-5, atol=1e-6)
            mid_episode += int(np.sum(np.asarray(batch.first[0]) == 0))
        assert mid_episode > 0  # some segment started in the middle of an episode


def trainer_policy(trainer, name):
    """The agents' network as ``play`` configured it for ``name``."""
    config = resolve("mpe:spread-3", name, sets=["agent=rnn", "last_action_input=true", "share_params=true"])
    return common.agent_policy(trainer.env.spec, config)


def test_td_lambda_on_a_segment_cuts_at_every_episode_end_and_bootstraps_the_last():
    rng = np.random.default_rng(0)
    T, gamma, lam = 6, 0.9, 0.8
    rewards = np.r_[rng.normal(size=T), 0.0].astype(np.float32)[:, None]
    q = rng.normal(size=(T + 1, 1)).astype(np.float32)
    terminated = np.zeros((T + 1, 1), np.float32)
    terminated[2] = 1.0  # episode A: steps 0-2; episode B: steps 3-5, cut by the segment
    mask = np.r_[np.ones(T), 0.0].astype(np.float32)[:, None]
    got = np.asarray(ops.td_lambda_targets(*map(jnp.asarray, (rewards, terminated, mask, q)), gamma, lam))[:, 0]
    want = np.zeros(T)
    for t in reversed(range(T)):
        if terminated[t, 0]:
            want[t] = rewards[t, 0]
        elif t == T - 1:
            want[t] = rewards[t, 0] + gamma * q[T, 0]
        else:
            want[t] = rewards[t, 0] + gamma * (lam * want[t + 1] + (1 - lam) * q[t + 1, 0])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_segments_need_an_on_policy_algorithm():
    with pytest.raises(ConfigError, match="rollout=segments needs an on-policy algorithm"):
        make_trainer(resolve("mpe:spread-3", "maddpg", sets=["rollout=segments"]))


def test_a_segment_run_counts_every_step_and_resumes_its_environments():
    config = resolve("mpe:spread-3", "lica", sets=["rollout=segments", "batch_size=2", "segment_length=5",
                                                    "eval_interval=50", "eval_episodes=2", "env_args.max_steps=7"],
                     seeds=2, env_steps=100)
    program = make_train(config)
    ts, metrics = program.train_interval(program.init())
    np.testing.assert_array_equal(ts.env_steps, [50, 50])  # 5 updates of 2 envs x 5 steps
    # 25 steps per environment = 3 whole 7-step episodes + 4 steps of the next one
    np.testing.assert_array_equal(metrics["train_episodes"], [6, 6])
    np.testing.assert_allclose(metrics["train_episode_length"], [7, 7])
    np.testing.assert_array_equal(ts.runner.t, [[4, 4], [4, 4]])
