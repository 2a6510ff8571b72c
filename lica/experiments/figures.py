"""The paper's figures as data (DESIGN.md, "Experiments are data").

A ``Figure`` names the runs it needs (``Unit``: environment, algorithm, config overrides and a
legend label), the budget each run gets (``quick``: minutes on a laptop CPU; ``paper``: the
paper's), and how it is drawn (``Panel``s, the band over seeds, the x axis). ``lica.experiments.
grid`` runs the units, ``lica.experiments.report`` draws the figure and writes ``results.md``.

Choices the paper leaves open are stated where they are made: Fig. 2 runs one seed per
setting at the Fig. 4 budget of 5m_vs_6m; Fig. 3's Cooperative Navigation metric, "mean reward
over all timesteps and agents", is the return divided by the episode length (the reward is
shared, so its mean over agents is itself), of the training episodes as the paper reports it
and of greedy test episodes beside it, and Fig. 3 is drawn against env steps rather than
episodes; Fig. A1's C_MLP runs keep the map's default xi.
"""

import re
from dataclasses import dataclass


class ExperimentError(ValueError):
    """An unknown figure or budget, or a grid that cannot run; the message says what to do."""


@dataclass(frozen=True)
class Unit:
    """One curve of a figure: ``algo`` on ``env`` with ``sets`` (``key=value`` overrides)."""

    env: str
    algo: str
    label: str
    sets: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The label as a directory name: ``"LICA (C_MLP)"`` -> ``"lica-c_mlp"``."""
        return re.sub(r"[^a-z0-9._]+", "-", self.label.lower()).strip("-")


@dataclass(frozen=True)
class Budget:
    """How long and how often a unit trains: seeds, env steps per seed (None: the preset's) and
    extra overrides (evaluation interval, episode limit)."""

    seeds: int
    env_steps: int | None = None
    sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Panel:
    """One subplot: ``metric`` (a metrics.csv column, or ``a/b`` for a ratio) on ``env``."""

    env: str
    metric: str
    ylabel: str
    lower_is_better: bool = False


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    units: tuple[Unit, ...]
    budgets: dict[str, dict[str, Budget]]  # budget name -> env -> Budget
    panels: tuple[Panel, ...]
    band: str  # "median" (median and quartiles over seeds) or "mean" (mean and standard deviation)
    paper: str  # what the paper reports, for results.md
    x: str = "env_steps"  # the metrics.csv column on the x axis
    runner: str = "train"  # "train" (lica.run.train_run) or "junction" (exact policy probabilities)


SMAC_ALGOS = {"lica": "LICA", "coma": "COMA", "liir": "LIIR", "vdn": "VDN", "qmix": "QMIX", "qtran": "QTRAN"}
PARTICLE_ALGOS = {"lica": "LICA", "coma": "COMA", "iddpg": "IDDPG", "maddpg": "MADDPG", "sqddpg": "SQDDPG"}
# Extra curves that came after the paper, labelled so; they run after the paper's own units.
BEYOND_PAPER = {"ippo": "IPPO (after the paper)", "mappo": "MAPPO (after the paper)"}
EASY_MAPS = ("smac:2s3z", "smac:1c3s5z")
HARD_MAPS = ("smac:5m_vs_6m", "smac:2c_vs_64zg", "smac:MMM2", "smac:3s5z_vs_3s6z")
PARTICLE_ENVS = ("mpe:predator-prey", "mpe:spread-3", "mpe:spread-5")

# Sec. 4.2: evaluation every 320k env steps with 32 greedy episodes; 32M steps for the Easy
# maps, 64M for Hard and Super Hard. Quick: a smoke run with small batches.
SMAC_EVAL = ("eval_interval=320000", "eval_episodes=32")
SMAC_QUICK = Budget(seeds=2, env_steps=40_000, sets=("batch_size=8", "eval_interval=10000", "eval_episodes=8"))


def smac_paper(env: str, seeds: int = 5) -> Budget:
    return Budget(seeds, 32_000_000 if env in EASY_MAPS else 64_000_000, SMAC_EVAL)


def smac_budgets(envs, paper_seeds: int = 5) -> dict[str, dict[str, Budget]]:
    return {"quick": {env: SMAC_QUICK for env in envs},
            "paper": {env: smac_paper(env, paper_seeds) for env in envs}}


def win_rate_panels(envs) -> tuple[Panel, ...]:
    return tuple(Panel(env, "test_win_rate", "test win rate") for env in envs)


def ablation_units(env: str, mlp_sets: tuple[str, ...] = ()) -> tuple[Unit, ...]:
    """LICA against its C_MLP and Gumbel-sampling ablations on one map (Fig. 6, Fig. A1)."""
    return (Unit(env, "lica", "LICA"),
            Unit(env, "lica", "LICA (C_MLP)", ("critic=mlp", *mlp_sets)),
            Unit(env, "lica", "LICA (Gumbel)", ("actions=gumbel",)))


FIG2_ENV = "smac:5m_vs_6m"
FIG2 = Figure(
    name="fig2", title="Fig. 2 (b-c): entropy regularization and mixing critic on 5m_vs_6m",
    units=(*(Unit(FIG2_ENV, "lica", f"xi={xi}", (f"xi={xi}",)) for xi in (0.06, 0.11)),
           *(Unit(FIG2_ENV, "lica", f"beta={b}", ("entropy=vanilla", f"beta={b}")) for b in (0.13, 0.15, 0.17)),
           *(Unit(FIG2_ENV, "lica", f"xi={xi} (C_MLP)", ("critic=mlp", f"xi={xi}")) for xi in (0.05, 0.11))),
    budgets=smac_budgets([FIG2_ENV], paper_seeds=1),
    panels=(Panel(FIG2_ENV, "policy_entropy", "policy entropy"), Panel(FIG2_ENV, "test_win_rate", "test win rate")),
    band="median",
    paper="Adaptive regularization (xi) keeps a steady entropy level set by xi; xi=0.06 converges "
          "prematurely and xi=0.11 is the best run. Vanilla beta in {0.13, 0.15, 0.17} gives "
          "unpredictable entropy trajectories; beta=0.17 reaches win rates similar to xi=0.11 but "
          "converges later. Both C_MLP runs (xi=0.05, 0.11) perform poorly (Sec. 4.3.2).",
)

# Sec. 4.1 and A1.2: 5000 episodes of at most 200 steps, 5 seeds, mean and standard deviation.
# Quick: 25-step episodes and 80k env steps per seed (3,200 episodes).
PARTICLE_PAPER = Budget(seeds=5, env_steps=1_000_000, sets=("eval_interval=50000", "eval_episodes=32"))
PARTICLE_QUICK = Budget(seeds=5, env_steps=80_000,
                        sets=("env_args.max_steps=25", "eval_interval=8000", "eval_episodes=32"))
FIG3 = Figure(
    name="fig3", title="Fig. 3: multi-agent particle environments",
    units=tuple(Unit(env, algo, label) for algos in (PARTICLE_ALGOS, BEYOND_PAPER) for env in PARTICLE_ENVS
                for algo, label in algos.items()),
    budgets={"quick": {env: PARTICLE_QUICK for env in PARTICLE_ENVS},
             "paper": {env: PARTICLE_PAPER for env in PARTICLE_ENVS}},
    # The paper's metric is that of the training episodes ("throughout training", as SQDDPG's
    # trainer logs them): the stochastic policy. The greedy policy's is drawn beside it.
    panels=(Panel("mpe:predator-prey", "train_episode_length", "steps per episode (training)", lower_is_better=True),
            Panel("mpe:spread-3", "train_return_mean/train_episode_length", "mean reward per step (training)"),
            Panel("mpe:spread-5", "train_return_mean/train_episode_length", "mean reward per step (training)"),
            Panel("mpe:predator-prey", "test_episode_length", "steps per episode (greedy)", lower_is_better=True),
            Panel("mpe:spread-3", "test_return_mean/test_episode_length", "mean reward per step (greedy)"),
            Panel("mpe:spread-5", "test_return_mean/test_episode_length", "mean reward per step (greedy)")),
    band="mean",
    paper="LICA performs on par with or better than the state of the art and consistently "
          "outperforms COMA and MADDPG. Predator-Prey: all methods converge at similar speed to "
          "similar performance. Cooperative Navigation n=5: SQDDPG underperforms and MADDPG does "
          "relatively better than at n=3. IDDPG is already competitive (Sec. 4.1).",
)

FIG4 = Figure(
    name="fig4", title="Fig. 4: StarCraft II micromanagement",
    units=tuple(Unit(env, algo, label) for algos in (SMAC_ALGOS, BEYOND_PAPER) for env in EASY_MAPS + HARD_MAPS
                for algo, label in algos.items()),
    budgets=smac_budgets(EASY_MAPS + HARD_MAPS),
    panels=win_rate_panels(EASY_MAPS + HARD_MAPS),
    band="median",
    paper="All methods solve the Easy maps (2s3z, 1c3s5z), LICA unaffected by 1c3s5z's larger joint "
          "action space. LICA is competitive everywhere and the most consistent; on 2c_vs_64zg it "
          "reaches a nearly perfect win rate but converges more slowly than LIIR; on MMM2 and "
          "3s5z_vs_3s6z it improves considerably on every baseline (Sec. 4.2).",
)

FIG5 = Figure(
    name="fig5", title="Fig. 5: 1-step traffic junction",
    units=(Unit("junction", "lica", "LICA"), Unit("junction", "coma", "COMA")),
    budgets={"quick": {"junction": Budget(seeds=1000)}, "paper": {"junction": Budget(seeds=20_000)}},
    panels=(Panel("junction", "p_optimal", "P(optimal joint action)"),),
    band="mean", x="updates", runner="junction",
    paper="Over 20k random initializations and 60 updates, LICA converges quickly to one of the two "
          "optimal joint actions with low policy entropy; COMA, whose expected counterfactual "
          "advantage is 0, converges only through imperfect critics and stochastic gradients "
          "(Sec. 4.3.1).",
)

FIG6 = Figure(
    name="fig6", title="Fig. 6: LICA ablations on 5m_vs_6m",
    units=ablation_units(FIG2_ENV, ("xi=0.05",)),
    budgets=smac_budgets([FIG2_ENV]),
    panels=win_rate_panels([FIG2_ENV]),
    band="median",
    paper="LICA (mixing critic, action probabilities) converges faster and more stably to better "
          "optima than LICA with Gumbel sampling; LICA with C_MLP (xi=0.05) performs poorly "
          "(Sec. 4.3.2).",
)

FIGA1_ENVS = ("smac:2c_vs_64zg", "smac:MMM2")
FIGA1 = Figure(
    name="figA1", title="Fig. A1: LICA ablations on 2c_vs_64zg and MMM2",
    units=tuple(u for env in FIGA1_ENVS for u in ablation_units(env)),
    budgets=smac_budgets(FIGA1_ENVS),
    panels=win_rate_panels(FIGA1_ENVS),
    band="median",
    paper="LICA consistently outperforms the ablations; Gumbel sampling is competitive but converges "
          "more slowly and less stably; C_MLP performs poorly (appendix A2).",
)

# Not a figure of the paper: LICA beside COMA, QMIX and the two PPO baselines that came after
# it, on an Easy and a Super Hard map at one budget that fits a few resumed sessions of a
# 2-core machine (far below the paper's 32M/64M). Every algorithm keeps its own defaults.
VERSUS_ENVS = ("smac:2s3z", "smac:MMM2")
VERSUS_ALGOS = {"lica": "LICA", "coma": "COMA", "qmix": "QMIX", "mappo": "MAPPO", "ippo": "IPPO"}
# LICA's critic on MMM2 with a hypernetwork 64 wide: the authors' width there (64 * 10 agents *
# 18 actions = 11,520) makes one layer of 133M parameters, 6 GB of state for 3 seeds and about a
# day of CPU per run. On 2s3z, widths 64 and 256 learned alike to 3M steps (docs/results.md).
# QMIX on MMM2 with a replay buffer of 1,000 episodes, not PyMARL's 5,000: 5,000 episodes of
# MMM2 (10 agents, 180 steps) take 11.8 GB a seed, 35 GB for 3 seeds, more than a 24 GB machine.
VERSUS_SETS = {("smac:MMM2", "lica"): ("hypernet_hidden=64",), ("smac:MMM2", "qmix"): ("buffer_size=1000",)}
VERSUS = Figure(
    name="versus", title="LICA, COMA, QMIX, MAPPO and IPPO at an equal budget (after the paper)",
    units=tuple(Unit(env, algo, label, VERSUS_SETS.get((env, algo), ()))
                for env in VERSUS_ENVS for algo, label in VERSUS_ALGOS.items()),
    budgets={"quick": {env: SMAC_QUICK for env in VERSUS_ENVS},
             "paper": {env: Budget(3, 1_000_000, ("eval_interval=100000", "eval_episodes=32"))
                       for env in VERSUS_ENVS}},
    panels=(*win_rate_panels(VERSUS_ENVS),
            *(Panel(env, "test_return_mean", "test return") for env in VERSUS_ENVS)),
    band="median",
    paper="Not in the paper, which has neither MAPPO nor IPPO. Its Fig. 4 puts LICA above COMA and "
          "QMIX on MMM2 and level with them on 2s3z, at 32M and 64M env steps.",
)

FIGURES = {f.name: f for f in (FIG2, FIG3, FIG4, FIG5, FIG6, FIGA1, VERSUS)}


def get(name: str) -> Figure:
    if name not in FIGURES:
        raise ExperimentError(f"unknown figure '{name}'; choose one of: {', '.join(FIGURES)}")
    return FIGURES[name]


def budget(figure: Figure, name: str, env: str) -> Budget:
    if name not in figure.budgets:
        raise ExperimentError(f"unknown budget '{name}'; choose one of: {', '.join(figure.budgets)}")
    return figure.budgets[name][env]
