"""Is LICA's critic right about a hand-written play? The true value of one step of it, by Monte Carlo.

    python -m lica.tools.deviation_value RUN_DIR [--script splash_kite] [--at 10] [--battles 64]
        [--continuations 16]

``lica.tools.critic_probe`` shows whether the critic prefers a script's joint action to the
policy's; it cannot show whether the critic is right. This measures it. In battles sampled from
the run's policy (its last checkpoint, every seed), at step ``at`` of each battle still going, it
plays one step of the script's joint action, or of an action sampled from the policy, and then
the sampled policy to the battle's end, ``continuations`` times each. The means of the discounted
returns estimate ``Q^pi(s, u_script)`` and ``V^pi(s)``; their difference is the script's true
advantage under the policy. Beside it, the critic's ``Q(s, u_script) - Q(s, pi(s))``: the
critic's answer to the same question at the point where LICA's policy step (Eq. 4) reads it.

Prints, per seed: the battles measured, the mean true advantage (with its standard error over the
battles) and the critic's, how often each is positive, how often their signs agree, and their
correlation across battles. A control: the critic's advantage of the policy's own sampled joint
actions, ``Q(s, u) - Q(s, pi(s))`` with ``u ~ pi``, whose true value is 0; the critic is trained on
one-hot joint actions and read at probabilities, and this shows what that alone gives.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from lica.evaluation import load_run
from lica.nets import make_critic
from lica.tools.critic_probe import SCRIPTS
from lica.tools.smac_scripted import policies


def _repeat(tree, k):
    return jax.tree.map(lambda x: jnp.repeat(x, k, axis=0), tree)


def play_out(env, algo, algo_state, key, start, first, gamma, steps_left):
    """The discounted return ``[B]`` from ``start = (obs, avail, env_state, carry, alive)``
    (batched; a battle already over gets 0) of the joint actions ``first [B, N]``, then of
    actions sampled from the policy to the end of each battle or ``steps_left`` steps."""
    n_envs, n_actions = first.shape[0], env.spec.n_actions

    def body(loop):
        t, key, obs, avail, env_state, carry, alive, ret, discount = loop
        key, act_key, env_key = jax.random.split(key, 3)
        actions, _, carry = algo.act(algo_state, carry, obs, avail, act_key, False)
        actions = jnp.where(t == 0, first, actions)
        carry = (carry[0], jax.nn.one_hot(actions, n_actions))  # the action taken is the next input
        obs, _, avail, reward, terminated, _, env_state = jax.vmap(env.step)(
            jax.random.split(env_key, n_envs), env_state, actions)
        ret = ret + alive * discount * reward
        alive = alive * (1.0 - terminated.astype(jnp.float32))
        return t + 1, key, obs, avail, env_state, carry, alive, ret, discount * gamma

    def going(loop):
        return (loop[0] < steps_left) & jnp.any(loop[6] > 0)

    obs, avail, env_state, carry, alive = start
    loop = (0, key, obs, avail, env_state, carry, alive, jnp.zeros((n_envs,)), 1.0)
    return jax.lax.while_loop(going, body, loop)[7]


def measure_seed(trainer, critic, config, algo_state, key, battles, at, continuations, script):
    """Per battle at step ``at``: ``(still going, true advantage, critic's advantage)`` of the script,
    and the critic's advantage of the policy's own sampled joint actions (averaged, the control)."""
    env, algo = trainer.env, trainer.algo
    n, a = env.spec.n_agents, env.spec.n_actions
    reset_key, walk_key, branch_key = jax.random.split(key, 3)
    obs, state, avail, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, battles))
    carry = algo.init_carry((battles,))

    def walk(loop, step_key):  # ``at`` steps sampled from the policy
        obs, state, avail, env_state, carry, alive = loop
        act_key, env_key = jax.random.split(step_key)
        actions, _, carry = algo.act(algo_state, carry, obs, avail, act_key, False)
        obs, state, avail, _, terminated, _, env_state = jax.vmap(env.step)(
            jax.random.split(env_key, battles), env_state, actions)
        return (obs, state, avail, env_state, carry, alive * (1.0 - terminated.astype(jnp.float32))), None

    start = (obs, state, avail, env_state, carry, jnp.ones((battles,)))
    obs, state, avail, env_state, carry, alive = jax.lax.scan(walk, start, jax.random.split(walk_key, at))[0]
    scripted = jax.vmap(lambda s, av: policies(env)[script](None, s, av))(env_state.state, avail)
    alive_units = env_state.state.unit_alive[:, :n]
    scripted = jnp.where(alive_units, scripted, jnp.argmax(avail, -1))

    # The policy's step is sampled afresh in every continuation (V); the script's is fixed (Q).
    probs = algo.act(algo_state, carry, obs, avail, branch_key, False)[1]
    play_key, sample_key = jax.random.split(branch_key)
    tiled = _repeat((obs, avail, env_state, carry, alive), continuations)
    own_first = jax.random.categorical(sample_key, jnp.log(_repeat(probs, continuations) + 1e-30))
    steps_left = env.spec.episode_limit - at
    value = lambda k, first: play_out(env, algo, algo_state, k, tiled, first, config.gamma, steps_left).reshape(
        battles, continuations).mean(-1)
    # The same keys on both branches (common random numbers): less noise in their difference.
    true_advantage = value(play_key, _repeat(scripted, continuations)) - value(play_key, own_first)

    q = lambda states, joint: critic.apply(algo_state.critic, states, joint.reshape(len(states), n * a))
    q_policy = q(state, probs)
    own_q = q(_repeat(state, continuations), jax.nn.one_hot(own_first, a)).reshape(battles, continuations)
    return alive, true_advantage, q(state, jax.nn.one_hot(scripted, a)) - q_policy, own_q.mean(-1) - q_policy


def summarize(alive, true_advantage, critic_advantage, critic_own_advantage) -> dict:
    """The numbers printed per seed, over the battles still going at the branching step."""
    going = np.asarray(alive) > 0
    t, c = np.asarray(true_advantage)[going], np.asarray(critic_advantage)[going]
    return {"battles": int(going.sum()), "true_advantage": float(t.mean()),
            "true_advantage_se": float(t.std(ddof=1) / np.sqrt(len(t))), "critic_advantage": float(c.mean()),
            "critic_own_advantage": float(np.asarray(critic_own_advantage)[going].mean()),
            "true_positive": float((t > 0).mean()), "critic_positive": float((c > 0).mean()),
            "signs_agree": float((np.sign(t) == np.sign(c)).mean()),
            "correlation": float(np.corrcoef(t, c)[0, 1]) if going.sum() > 2 else float("nan")}


def measure(path, battles: int, at: int, continuations: int, script: str, seed: int = 0) -> list[dict]:
    config, program, state = load_run(path)
    if config.algo != "lica" or not config.env.startswith("smac:"):
        raise ValueError(f"the measurement needs a LICA run on a StarCraft map, not {config.algo} on {config.env}")
    critic = make_critic(config.critic, config.critic_embed, config.hypernet_hidden)
    run = jax.jit(lambda s, k: measure_seed(program.trainer, critic, config, s, k, battles, at, continuations, script))
    rows = []
    for i in range(config.seeds):
        numbers = jax.device_get(run(jax.tree.map(lambda x: x[i], state.algo), jax.random.PRNGKey(seed)))
        rows.append({"seed": i, **summarize(*numbers)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a LICA run directory on a smac: map")
    parser.add_argument("--script", choices=SCRIPTS, default="splash_kite")
    parser.add_argument("--at", type=int, default=10, help="the battle step where the play branches")
    parser.add_argument("--battles", type=int, default=64)
    parser.add_argument("--continuations", type=int, default=16, help="battles played on from each branch")
    args = parser.parse_args()
    for row in measure(args.run, args.battles, args.at, args.continuations, args.script):
        print(", ".join(f"{k} {np.round(v, 3)}" for k, v in row.items()))


if __name__ == "__main__":
    main()
