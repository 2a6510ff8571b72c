"""Raw vmapped step rate of our SMAX subclass against jaxmarl's own SMAX on the same maps.

    python benchmarks/smax_step.py [--maps 2s3z 27m_vs_30m] [--envs 16] [--steps 100]

Both simulators run SMAX's maps (units SMAX has) with its heuristic enemy, behind the same
jaxmarl adapter, with uniformly random available actions, in this process, after compiling.
``lica.envs.smax_units.UnitSMAX`` computes targeting, damage, collisions and observations over
all pairs at once where SMAX goes pair by pair; the ratio (ours / SMAX's) is the figure to
compare. Maps with units SMAX lacks (2c_vs_64zg, ...) run on ours only and are listed last;
those with terrain (``smac.LAYOUTS``) also run on SMAX's open map (``terrain=False``), and the
ratio (terrain / open) is the cost of the terrain and the heuristic's path finding.
"""

import argparse

from jaxmarl.environments.smax import HeuristicEnemySMAX
from throughput import raw_env_rate

from lica.envs import smac
from lica.envs.jaxmarl_adapter import JaxMarlAdapter
from lica.envs.smax_units import HeuristicEnemyUnitSMAX


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="*", default=["2s3z", "27m_vs_30m"])
    parser.add_argument("--ours-only", nargs="*", default=["2c_vs_64zg"])
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    for name in args.maps + args.ours_only:
        scenario = smac.SCENARIOS[name]
        ours = raw_env_rate(JaxMarlAdapter(HeuristicEnemyUnitSMAX(scenario=scenario)), args.envs, args.steps)
        line = f"{name:12s} {scenario.num_allies + scenario.num_enemies:3d} units  ours {ours:9,.0f} steps/s"
        if name in args.maps:
            smax = raw_env_rate(JaxMarlAdapter(HeuristicEnemySMAX(scenario=scenario)), args.envs, args.steps)
            line += f"  SMAX {smax:9,.0f} steps/s  ratio {ours / smax:.2f}"
        if name in smac.LAYOUTS:  # both through lica's smac env, so only the terrain differs
            terrain, open_map = (raw_env_rate(smac.make(name, terrain=t), args.envs, args.steps) for t in (True, False))
            line += f"  terrain {terrain:9,.0f} / open {open_map:9,.0f} steps/s  ratio {terrain / open_map:.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
