"""Does a trained LICA critic know what a winning script is worth? A probe of a StarCraft run.

    python -m lica.tools.critic_probe RUN_DIR [--episodes 64] [--script focus|splash_kite] [--sampled]

LICA's policy only moves where its critic's gradient points (Eq. 4). On SMAX a hand-written
controller (``lica.tools.smac_scripted``: focus fire on 2s3z, splash-and-kite on 2c_vs_64zg
with ``cliff_walk``) wins far more battles than LICA learns to, so either the critic does not
value the script's actions, or it does and the policy step does not get there. On the states
of the run's own greedy battles (its last checkpoint, every seed; ``--sampled``: battles
sampled from the policy, the states its policy step sees), this compares the critic's
value of the joint action the policy takes, ``Q(s, u)``, with its value of the script's,
``Q(s, u_script)``, and of each agent alone switching to the script's action. It also prints
the slope of ``Q`` along the straight line from the policy's probabilities to the script's
one-hots: what LICA's policy step (Eq. 4) sees, at the point where it is taken.

Prints, per seed, over the valid steps where the script differs from the policy's action: how
often and by how much the critic prefers the script, and how the actions differ (another
target, a move where the script attacks, ...); and the discounted return the battles actually
got, beside the critic's ``Q(s, u)`` (its calibration), and from the first step, over the
battles won and lost.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from lica import ops
from lica.evaluation import load_run
from lica.nets import make_critic
from lica.rollout import rollout
from lica.tools.smac_scripted import N_MOVES, policies


def discounted_returns(reward, mask, gamma):
    """``sum_k gamma^k r_{t+k}`` within each episode of ``reward [T, B]``."""
    def back(ret, step):
        r, m = step
        ret = m * (r + gamma * ret)
        return ret, ret
    return jax.lax.scan(back, jnp.zeros(reward.shape[1]), (reward, mask), reverse=True)[1]


SCRIPTS = ("focus", "splash_kite")  # the deterministic ones of lica.tools.smac_scripted.policies


def script_actions(env, env_states, avail, script: str = "focus"):
    """The hand-written ``script``'s actions ``[T, B, N]`` at every step of a rollout's
    ``env_states`` (``keep_states``), given the agents' ``avail``able actions there; a dead
    agent keeps its one available action (the script would walk it)."""
    act = policies(env)[script]
    scripted = jax.vmap(jax.vmap(lambda s, av: act(None, s, av)))(env_states.state, avail)
    alive = env_states.state.unit_alive[..., :env.spec.n_agents]
    return jnp.where(alive, scripted, jnp.argmax(avail, -1))


def _mean_or_nan(x, mask):
    return jnp.where(jnp.sum(mask) > 0, ops.masked_mean(x, mask), jnp.nan)


def probe_seed(trainer, critic, config, algo_state, key, episodes, script: str = "focus", greedy: bool = True):
    """The probe's numbers for one seed's policy and critic against ``script``, on the policy's
    ``greedy`` battles (else on battles sampled from it, as training plays them)."""
    env, n, a = trainer.env, trainer.env.spec.n_agents, trainer.env.spec.n_actions
    batch, stats, env_states = rollout(env, trainer.algo, algo_state, key, episodes, greedy=greedy, keep_states=True)
    scripted = script_actions(env, env_states, batch.avail, script)
    mask = batch.mask
    q_of = lambda joint: critic.apply(algo_state.critic, batch.state, joint.reshape(joint.shape[:2] + (n * a,)))
    own = jax.nn.one_hot(batch.actions, a)
    target = jax.nn.one_hot(scripted, a)
    q_own, q_script = q_of(own), q_of(target)
    # Each agent alone switching to the script's action, the others keeping theirs: [N, T, B].
    alone = jax.vmap(lambda i: q_of(own.at[:, :, i].set(target[:, :, i])))(jnp.arange(n))
    differs = (scripted != batch.actions) & (mask[..., None] > 0)
    probs = batch.probs
    slope = jax.jvp(q_of, (probs,), (target - probs,))[1]  # dQ along pi -> u_script
    returns = discounted_returns(batch.reward, mask, config.gamma)
    won = (stats["won"] > 0).astype(jnp.float32)
    step = jnp.any(differs, -1)
    agent_gain = jnp.moveaxis(alone, 0, -1) - q_own[..., None]
    own_attacks, script_attacks = batch.actions >= N_MOVES, scripted >= N_MOVES
    kinds = {  # how the agents' actions differ from the script's, as shares of the differing agent-steps
        "other_target": own_attacks & script_attacks, "moves_not_attack": ~own_attacks & script_attacks,
        "attacks_not_move": own_attacks & ~script_attacks, "other_move": ~own_attacks & ~script_attacks}
    return {
        **{f"differs_{k}": jnp.sum(differs & v) / jnp.sum(differs) for k, v in kinds.items()},
        "won": jnp.sum(stats["won"]) / episodes,
        "steps": jnp.sum(mask),
        "steps_script_differs": ops.masked_mean(step, mask),
        "q_script_above_own": ops.masked_mean(q_script > q_own, step),
        "q_script_minus_own": ops.masked_mean(q_script - q_own, step),
        "agents_gain_alone": jnp.sum(jnp.where(differs, agent_gain > 0, 0)) / jnp.sum(differs),
        "slope_to_script_positive": ops.masked_mean(slope > 0, step),
        "q_own_mean": ops.masked_mean(q_own, mask),
        "return_mean": ops.masked_mean(returns, mask),
        # What the policy's battles are worth from their first step (the objective, discounted),
        # the battles won and lost apart: a tactic that wins slowly may be worth less than one
        # that loses fast.
        "start_return": jnp.mean(returns[0]),
        "start_return_won": _mean_or_nan(returns[0], won),
        "start_return_lost": _mean_or_nan(returns[0], 1.0 - won),
    }


def probe(path, episodes: int, seed: int = 0, script: str = "focus", greedy: bool = True) -> list[dict]:
    config, program, state = load_run(path)
    if config.algo != "lica" or not config.env.startswith("smac:"):
        raise ValueError(f"the probe needs a LICA run on a StarCraft map, not {config.algo} on {config.env}")
    critic = make_critic(config.critic, config.critic_embed, config.hypernet_hidden)
    run = jax.jit(lambda s, k: probe_seed(program.trainer, critic, config, s, k, episodes, script, greedy))
    rows = []
    for i in range(config.seeds):
        algo_state = jax.tree.map(lambda x: x[i], state.algo)
        numbers = jax.device_get(run(algo_state, jax.random.PRNGKey(seed)))
        rows.append({"seed": i, **{k: float(v) for k, v in numbers.items()}})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a LICA run directory on a smac: map")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--script", choices=SCRIPTS, default="focus", help="the hand-written play to compare with")
    parser.add_argument("--sampled", action="store_true", help="probe battles sampled from the policy, as "
                        "training plays them, instead of greedy ones")
    args = parser.parse_args()
    for row in probe(args.run, args.episodes, script=args.script, greedy=not args.sampled):
        print(", ".join(f"{k} {np.round(v, 3)}" for k, v in row.items()))


if __name__ == "__main__":
    main()
