"""The seed-batched training loop: seeds that reached their evaluation point are frozen exactly,
and a replay buffer ignores the empty episodes such a seed hands it (so it is never copied)."""

import jax
import jax.numpy as jnp
import numpy as np

from lica import replay as replay_lib
from lica.algos.pymarl.value_based import empty_batch
from lica.config import resolve
from lica.envs.base import EnvSpec
from lica.trainer import make_train


def test_replay_stores_only_episodes_with_a_valid_step():
    spec = EnvSpec(n_agents=2, obs_dim=3, state_dim=4, n_actions=5, episode_limit=6)
    replay = replay_lib.init(empty_batch(spec), capacity=4)
    template = empty_batch(spec)
    batch = jax.tree.map(lambda x: jnp.concatenate([x] * 3, axis=1), template)  # 3 episodes
    batch = batch._replace(obs=batch.obs + jnp.arange(1.0, 4.0)[None, :, None, None],
                           mask=batch.mask.at[0].set(jnp.array([1.0, 0.0, 1.0])))
    replay = replay_lib.add(replay, batch)
    assert int(replay.size) == 2 and int(replay.insert_at) == 2
    np.testing.assert_array_equal(replay.data.obs[:, 0, 0, 0], [1.0, 3.0, 0.0, 0.0])  # episode 2 skipped
    replay = replay_lib.add(replay, batch._replace(mask=jnp.zeros_like(batch.mask)))
    assert int(replay.size) == 2 and int(replay.insert_at) == 2
    replay = replay_lib.add(replay, batch._replace(obs=batch.obs + 10.0))  # slots 2, 3: full
    replay = replay_lib.add(replay, batch._replace(obs=batch.obs + 20.0))  # wraps around: slots 0, 1
    assert int(replay.size) == 4 and int(replay.insert_at) == 2
    np.testing.assert_array_equal(replay.data.obs[:, 0, 0, 0], [21.0, 23.0, 11.0, 13.0])


def test_a_seed_at_its_budget_is_frozen_while_another_trains():
    config = resolve("mpe:spread-3", "qmix", sets=["env_args.max_steps=5", "batch_size=2", "buffer_size=16"],
                     seeds=2, env_steps=40, eval_interval=40)
    program = make_train(config)
    state = program.init()
    state = state._replace(env_steps=state.env_steps.at[0].set(40))  # seed 0 is done
    before = jax.tree.map(lambda x: np.asarray(x[0]), state)
    state, metrics = program.train_interval(state)
    after = jax.tree.map(lambda x: np.asarray(x[0]), state)
    assert list(np.asarray(metrics["interval_updates"])) == [0, 4]
    assert jax.tree.all(jax.tree.map(np.array_equal, before, after))
    assert int(state.env_steps[1]) == 40 and int(state.algo.replay.size[1]) == 8


HOST_OPS = ("callback", "outfeed", "infeed", "send(", "recv(")


def host_ops(compiled_text: str) -> list[str]:
    """Host callbacks and transfers a compiled XLA program holds (by its HLO text)."""
    return [op for op in HOST_OPS if op in compiled_text]


def test_the_compiled_training_loop_never_calls_back_to_the_host():
    # DESIGN.md: nothing in the inner loop calls back to Python. Segments and episodes both.
    for sets in (["rollout=segments", "segment_length=3"], ["rollout=episodes"]):
        config = resolve("mpe:spread-3", "lica", sets=["batch_size=2", "eval_interval=24", "eval_episodes=2",
                                                        "env_args.max_steps=5", *sets], seeds=2, env_steps=48)
        program = make_train(config)
        state = program.init()
        assert host_ops(program.advance.lower(state, program.begin(state)).compile().as_text()) == [], sets
    # the check sees a host callback where there is one
    noisy = jax.jit(lambda x: jax.debug.callback(lambda v: None, x) or x + 1)
    assert host_ops(noisy.lower(jnp.ones(3)).compile().as_text()) == ["callback"]
