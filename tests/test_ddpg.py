"""The DDPG-family baselines (IDDPG, MADDPG, SQDDPG; Sec. 4.1, A1.2): Shapley values, what each
critic sees, the per-agent policy gradient, the replay schedule, and learning on a particle task."""

import itertools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica import algos, envs
from lica.algos.base import Algorithm
from lica.algos.ddpg import core, iddpg, maddpg, sqddpg
from lica.config import resolve
from lica.envs.base import EnvSpec
from lica.rollout import rollout
from lica.trainer import make_train, make_trainer

ALGOS = ["iddpg", "maddpg", "sqddpg"]
SPREAD = "jaxmarl:MPE_simple_spread_v3"


# ---------------------------------------------------------------- Shapley values (SQDDPG)

def exact_shapley(v, n):
    """phi_i = sum over S not containing i of |S|! (n-|S|-1)! / n! (v(S+i) - v(S)), by subsets."""
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            for s in itertools.combinations(others, size):
                member = np.zeros(n)
                member[list(s)] = 1
                with_i = member.copy()
                with_i[i] = 1
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                phi[i] += weight * (v(with_i) - v(member))
    return phi


def marginal_phi(v, n, a):
    """A stand-in for SQDDPG's network Phi_i: reads agent i's coalition C_i + {i} off the masked
    joint action it is given and returns the true marginal contribution v(C_i + i) - v(C_i)."""

    def phi(x, u):
        present = (jnp.abs(u.reshape(u.shape[:-1] + (n, a))).sum(-1) > 0).astype(jnp.float32)  # [..., M, N, N]
        return v(present) - v(present * (1 - jnp.eye(n)))

    return phi


def game(weights):
    """A non-additive coalition value: squared total weight, plus a synergy of agents 0 and 1,
    minus a penalty when agents 2 and 3 are both in."""
    w = jnp.asarray(weights)

    def v(member):
        member = jnp.asarray(member)
        return (jnp.sum(member * w, -1) ** 2 + 3.0 * member[..., 0] * member[..., 1]
                - 2.0 * member[..., 2] * member[..., 3])

    return v


def test_sqddpg_masks_give_each_agent_its_predecessors_and_itself():
    # ordering 2, 0, 3, 1 (ranks: agent 0 second, agent 1 last, agent 2 first, agent 3 third)
    masks = np.asarray(sqddpg.coalition_masks(jnp.array([1.0, 3.0, 0.0, 2.0])))
    want = np.array([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 1, 0], [1, 0, 1, 1]])
    np.testing.assert_array_equal(masks, want)
    # all 4! orderings, each once; every coalition size 0..n-1 equally often for every agent
    ranks = np.asarray(sqddpg.all_orderings(4))
    assert len({tuple(r) for r in ranks}) == 24
    sizes = np.asarray(sqddpg.coalition_masks(jnp.asarray(ranks))).sum(-1) - 1  # [24, N]
    for i in range(4):
        assert np.all(np.bincount(sizes[:, i].astype(int), minlength=4) == 6)


def test_sqddpg_all_orderings_give_the_exact_shapley_value():
    n, a = 4, 3
    v = game([0.5, -1.0, 2.0, 1.5])
    want = exact_shapley(lambda m: float(v(m)), n)
    assert abs(want.sum() - float(v(jnp.ones(n)) - v(jnp.zeros(n)))) < 1e-5  # efficiency
    joint = core.same_joint(jax.nn.one_hot(jnp.array([0, 2, 1, 1]), a))
    masks = sqddpg.coalition_masks(sqddpg.all_orderings(n))  # [24, N, N]
    got = sqddpg.shapley_q(marginal_phi(v, n, a), jnp.zeros(5), joint, masks)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)


def test_sqddpg_sampled_orderings_converge_to_the_shapley_value():
    n, a = 4, 3
    v = game([0.5, -1.0, 2.0, 1.5])
    want = exact_shapley(lambda m: float(v(m)), n)
    joint = core.same_joint(jax.nn.one_hot(jnp.array([0, 2, 1, 1]), a))
    phi = marginal_phi(v, n, a)
    errors = []
    for m in (10, 100, 10_000):
        masks = sqddpg.sample_coalition_masks(jax.random.PRNGKey(m), (m,), n)
        errors.append(np.abs(np.asarray(sqddpg.shapley_q(phi, jnp.zeros(5), joint, masks)) - want).max())
    assert errors[-1] < 0.1 < errors[0]  # the marginals differ by up to ~16 between orderings
    # an additive game has the same marginal contribution in every ordering: one sample is exact
    w = jnp.array([0.5, -1.0, 2.0, 1.5])
    masks = sqddpg.sample_coalition_masks(jax.random.PRNGKey(0), (1,), n)
    got = sqddpg.shapley_q(marginal_phi(lambda m: jnp.sum(m * w, -1), n, a), jnp.zeros(5), joint, masks)
    np.testing.assert_allclose(np.asarray(got), np.asarray(w), atol=1e-6)


# ---------------------------------------------------------------- critics and policy gradient

SPEC = EnvSpec(n_agents=3, obs_dim=4, state_dim=5, n_actions=3, episode_limit=5)


def critic_and_inputs(module, algo):
    config = resolve("junction", algo, sets=["critic_hidden=16"])
    critic = module.make_critic(SPEC, config)
    params = critic.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (SPEC.n_agents, SPEC.obs_dim))
    state = jax.random.normal(jax.random.PRNGKey(2), (SPEC.state_dim,))
    return critic, params, obs, state


@pytest.mark.parametrize("module,algo,sees_others", [(maddpg, "maddpg", True), (iddpg, "iddpg", False),
                                                     (sqddpg, "sqddpg", True)])
def test_which_actions_each_critic_sees(module, algo, sees_others):
    critic, params, obs, state = critic_and_inputs(module, algo)
    key = jax.random.PRNGKey(3)  # the same coalition samples for both evaluations (SQDDPG)

    def q(actions):
        joint = core.same_joint(jax.nn.one_hot(jnp.array(actions), 3))
        return np.asarray(critic.values(params, obs, state, joint, key))

    base, moved = q([0, 0, 0]), q([0, 2, 0])  # only agent 1 changes its action
    assert abs(moved[1] - base[1]) > 1e-4  # every agent's critic sees its own action
    others_changed = np.abs(moved[[0, 2]] - base[[0, 2]]).max() > 1e-4
    assert others_changed == sees_others


def test_sqddpg_agent_first_in_the_ordering_ignores_the_others_actions():
    _, params, obs, state = critic_and_inputs(sqddpg, "sqddpg")
    _, apply = core.agent_critics(3, 16, 3 * SPEC.obs_dim, 3 * 3)  # the critics SQDDPG builds
    masks = sqddpg.coalition_masks(jnp.array([[0.0, 1.0, 2.0]]))  # one ordering: 0, 1, 2

    def q(actions):
        joint = core.same_joint(jax.nn.one_hot(jnp.array(actions), 3))
        return np.asarray(sqddpg.shapley_q(lambda x, u: apply(params, x, u), obs.reshape(-1), joint, masks))

    base, moved = q([0, 0, 0]), q([0, 2, 1])  # agents 1 and 2 change their actions
    assert abs(moved[0] - base[0]) < 1e-6  # agent 0 comes first: its coalition is empty
    assert abs(moved[2] - base[2]) > 1e-4  # agent 2 comes last and sees everybody


@pytest.mark.parametrize("module,algo", [(maddpg, "maddpg"), (sqddpg, "sqddpg")])
def test_each_policy_gets_only_its_own_critics_gradient_through_its_own_action(module, algo):
    critic, params, obs, state = critic_and_inputs(module, algo)
    key = jax.random.PRNGKey(3)
    probs = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(4), (3, 3)))
    # d/da_j of sum_i Q_i(own_action_joint(a)) ...
    got = jax.grad(lambda p: jnp.sum(critic.values(params, obs, state, core.own_action_joint(p), key)))(probs)
    # ... is dQ_j/da_j alone (no dQ_i/da_j for i != j)
    jac = jax.jacobian(lambda p: critic.values(params, obs, state, core.same_joint(p), key))(probs)  # [N, N, A]
    want = jnp.stack([jac[j, j] for j in range(3)])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    cross = sum(float(jnp.abs(jac[i, j]).max()) for i in range(3) for j in range(3) if i != j)
    assert cross > 1e-4  # the other critics do depend on a_j, so the test has teeth


# ---------------------------------------------------------------- acting, schedule, replay

def test_act_samples_available_actions_and_returns_the_masked_softmax():
    config = resolve("junction", "maddpg")
    spec = EnvSpec(n_agents=2, obs_dim=3, state_dim=1, n_actions=4, episode_limit=1)
    algo = maddpg.make(spec, config)
    state = algo.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (256, 2, 3))
    avail = jnp.broadcast_to(jnp.array([[1.0, 0, 1, 1], [0, 1, 1, 0]]), (256, 2, 4))
    actions, probs, _ = algo.act(state, algo.init_carry((256,)), obs, avail, jax.random.PRNGKey(2), False)
    assert np.all(np.take_along_axis(np.asarray(avail), np.asarray(actions)[..., None], -1) == 1)
    np.testing.assert_allclose(np.asarray(probs.sum(-1)), 1.0, atol=1e-5)
    assert np.all(np.asarray(probs)[np.asarray(avail) == 0] == 0)
    greedy, _, _ = algo.act(state, algo.init_carry((256,)), obs, avail, jax.random.PRNGKey(2), True)
    np.testing.assert_array_equal(np.asarray(greedy), np.asarray(jnp.argmax(probs, -1)))
    assert len(np.unique(np.asarray(actions[:, 0]))) == 3  # exploration samples, greedy does not


def same_tree(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), a, b)))


def test_training_rounds_warmup_and_target_updates_follow_the_env_step_clock():
    # 64 one-step episodes per update; a round every 32 steps, none before 128 steps were stored;
    # a hard target copy every 128 steps.
    config = resolve("junction", "sqddpg", sets=["update_every=32", "warmup_steps=128", "target_update_every=128",
                                                 "tau=1.0", "replay_size=256"])
    trainer = make_trainer(config)
    ts = trainer.init(jax.random.PRNGKey(0))
    update = jax.jit(trainer.update)
    rounds, copied = [], []
    for _ in range(4):
        ts, metrics, _ = update(ts)
        rounds.append(int(ts.algo.rounds))
        copied.append(same_tree(ts.algo.policy, ts.algo.target_policy)
                      and same_tree(ts.algo.critic, ts.algo.target_critic))
    assert rounds == [0, 1, 3, 5]  # rounds at steps 128, 160, 192, 224, 256
    assert copied == [True, True, False, True]  # untrained, copy at 128, none at 192, copy at 256
    assert int(ts.algo.replay.size) == 256
    # a soft update moves the targets a fraction tau of the way
    soft = resolve("junction", "maddpg", sets=["update_every=64", "target_update_every=64", "tau=0.25"])
    trainer = make_trainer(soft)
    ts0 = trainer.init(jax.random.PRNGKey(0))
    ts1, *_ = jax.jit(trainer.update)(ts0)
    lerp = jax.tree.map(lambda t, p: 0.75 * t + 0.25 * p, ts0.algo.target_critic, ts1.algo.critic)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6),
                 ts1.algo.target_critic, lerp)


def uniform_policy():
    """Agents that pick uniformly among their available actions (an ``Algorithm`` that only acts)."""

    def act(state, carry, obs, avail, key, greedy):
        actions = jax.random.categorical(key, jnp.where(avail > 0, 0.0, -1e10))
        return actions, avail / avail.sum(-1, keepdims=True), carry

    return Algorithm(None, lambda shape: jnp.zeros(shape), act, None)


@pytest.fixture(scope="module")
def spread():
    """jaxmarl's simple_spread and three batches of 4 uniformly random episodes (25 steps)."""
    env = envs.make(SPREAD)
    play = jax.jit(lambda k: rollout(env, uniform_policy(), None, k, 4, greedy=False)[0])
    return env, [play(jax.random.PRNGKey(i)) for i in range(3)]


@pytest.mark.parametrize("algo", ALGOS)
def test_trains_a_few_updates_without_nan_on_cooperative_navigation(algo, spread):
    env, batches = spread
    config = resolve(SPREAD, algo, sets=["hidden=8", "critic_hidden=8", "batch_size=4", "update_every=50",
                                         "train_batch=16", "critic_steps=2", "target_update_every=100"])
    module = algos.get(algo)
    algorithm = module.make(env.spec, config)
    state0 = algorithm.init(jax.random.PRNGKey(0))
    update = jax.jit(algorithm.update)
    state = state0
    for i, batch in enumerate(batches):
        state, metrics = update(state, batch, jax.random.PRNGKey(10 + i))
        assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
        assert float(metrics["train_rounds"]) == 2  # 100 env steps, a round every 50
    assert all(jax.tree.leaves(jax.tree.map(lambda x: bool(jnp.all(jnp.isfinite(x))), state)))
    assert not same_tree(state0.policy, state.policy)
    assert not same_tree(state0.critic, state.critic)
    assert not same_tree(state0.target_critic, state.target_critic)


@pytest.mark.parametrize("algo", ALGOS)
def test_trains_a_few_updates_without_nan_on_the_junction(algo):
    config = resolve("junction", algo, sets=["hidden=8", "critic_hidden=8"])
    trainer = make_trainer(config)
    ts0 = trainer.init(jax.random.PRNGKey(0))
    update = jax.jit(trainer.update)
    ts = ts0
    for _ in range(3):
        ts, metrics, _ = update(ts)
        assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
        assert float(metrics["train_rounds"]) == 1
    assert all(jax.tree.leaves(jax.tree.map(lambda x: bool(jnp.all(jnp.isfinite(x))), ts.algo)))
    assert not same_tree(ts0.algo.policy, ts.algo.policy)


# ---------------------------------------------------------------- learning

@pytest.fixture(scope="module")
def random_spread_return(spread):
    """Mean return of uniformly random agents on jaxmarl's simple_spread (512 episodes)."""
    env, _ = spread
    play = jax.jit(lambda k: rollout(env, uniform_policy(), None, k, 512, greedy=False)[1])
    return float(play(jax.random.PRNGKey(123))["return"].mean())


# A short budget needs more gradient steps per env step than SQDDPG's schedule (a round of
# 2 critic steps + 1 policy step every 5 steps instead of 10 + 1 every 100) and a faster policy
# (lr 1e-3); the entropy weight keeps the behaviour policy exploring.
LEARN_SETS = ["batch_size=8", "update_every=5", "critic_steps=2", "lr_policy=0.001", "entropy_coef=0.05"]
LEARN_STEPS, LEARN_SEEDS = 20_000, 3


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_beats_a_uniform_random_policy_on_cooperative_navigation(algo, random_spread_return):
    """Cooperative navigation (jaxmarl's simple_spread, 3 agents, 25 steps): after 20k env steps
    per seed, the greedy policy of every seed beats uniformly random agents (about -27), and the
    seeds' mean does by a margin. An untrained greedy policy scores about -37, worse than random."""
    config = resolve(SPREAD, algo, sets=LEARN_SETS, seeds=LEARN_SEEDS, env_steps=LEARN_STEPS,
                     eval_interval=LEARN_STEPS, eval_episodes=128)
    start = time.time()
    program = make_train(config)
    ts, metrics = program.train_interval(program.init())
    after = np.asarray(metrics["test_return_mean"])
    print(f"{algo}: random {random_spread_return:.2f}, greedy after {LEARN_STEPS} steps {after.round(2)} "
          f"({time.time() - start:.0f} s)")
    assert np.all(np.asarray(ts.env_steps) >= LEARN_STEPS)
    assert np.all(after > random_spread_return)
    assert after.mean() > random_spread_return + 3.0
