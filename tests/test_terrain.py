"""Terrain on SMAX maps: the ravine of 2c_vs_64zg, sliding movement, the heuristic's path finding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lica.envs import smac
from lica.envs.terrain import Terrain, ravine

KEY = jax.random.PRNGKey(0)
STOP = 4


@pytest.fixture(scope="module")
def terrain():
    return Terrain(ravine())


def test_ravine_is_two_lanes_joined_at_the_ends(terrain):
    blocked = ravine()
    assert blocked[:6].all() and blocked[20:].all()  # outside the corridor
    assert blocked[12, 4:28].all() and not blocked[12, :4].any() and not blocked[12, 28:].any()
    assert not blocked[13:17].any() and not blocked[9:12].any()  # the lanes' open middle rows
    assert blocked[6, :3].all() and not blocked[6, 3] and blocked[8, 0] and not blocked[8, 1]
    lower, upper = jnp.array([16.5, 9.5]), jnp.array([16.5, 15.5])
    around = float(terrain.costs[terrain.tile(upper), terrain.tile(lower)])
    assert 25 < around < 30  # 6 tiles apart in a straight line, ~26-28 around an end of the wall
    assert float(terrain.costs[terrain.tile(upper), terrain.tile(jnp.array([16.5, 25.5]))]) >= 1e6


def test_waypoints_lead_around_the_wall_not_into_it(terrain):
    pos, target = jnp.array([16.5, 9.5]), jnp.array([16.5, 15.5])
    for _ in range(40):
        step = terrain.waypoint(pos, target)
        assert not bool(terrain.blocked[int(step[1]), int(step[0])])
        assert float(jnp.linalg.norm(step - pos)) <= 1.5 or bool(jnp.all(step == target))
        pos = step
    assert bool(jnp.all(pos == target))
    # in the same tile, or where the target cannot be reached, head straight for it
    assert bool(jnp.all(terrain.waypoint(jnp.array([3.2, 3.2]), target) == target))


def test_discs_are_pushed_out_of_walls_and_off_the_map_edge(terrain):
    radius = jnp.array([1.0, 0.375, 0.375, 0.375, 0.375])
    # into the wall from above and below, past the map's west edge, centre inside the wall,
    # and a disc that already fits
    pos = jnp.array([[16.5, 13.5], [10.3, 11.8], [-0.2, 10.0], [16.0, 12.4], [16.0, 15.0]])
    out = terrain.push_out(pos, radius)
    np.testing.assert_allclose(out, [[16.5, 14.0], [10.3, 11.625], [0.375, 10.0], [16.0, 11.625], [16.0, 15.0]],
                               atol=1e-5)
    assert bool(jnp.all(terrain.fits(out, radius)))
    assert not bool(jnp.any(terrain.fits(pos[:4], radius[:4])))
    assert not bool(terrain.fits(jnp.array([3.8, 11.9]), jnp.array(0.375)))  # cuts the wall's corner


def test_a_disc_walking_into_a_corner_rounds_it(terrain):
    """A zergling walking north against the west end of the wall slips past it."""
    pos, radius = jnp.array([[3.8, 11.5]]), jnp.array([0.375])
    for _ in range(12):
        pos = terrain.push_out(pos + jnp.array([[0.0, 4.13 / 16]]), radius)
        assert bool(terrain.fits(pos, radius)[0])
    assert float(pos[0, 1]) > 13.5 and float(pos[0, 0]) < 3.65


def test_zerglings_walk_around_the_ravine_and_stay_off_it():
    """The heuristic enemy reaches colossi that wait behind the wall by the ends of the wall: no
    living unit ever overlaps a blocked tile (moves are 1/16 s, too short to jump the wall)."""
    env = smac.make("2c_vs_64zg")
    sim = env.sim
    step = jax.jit(env.step)
    *_, es = env.reset(KEY)
    radius = sim.unit_type_radiuses[es.state.unit_types]
    assert bool(jnp.all(es.state.unit_positions[2:, 1] < 12))  # zerglings start below the wall
    for key in jax.random.split(KEY, 12):
        *_, es = step(key, es, jnp.array([STOP, STOP]))
        pos, alive = es.state.unit_positions, es.state.unit_alive
        assert bool(jnp.all(sim.terrain.fits(pos, radius) | ~alive))
    above = (pos[2:, 1] > 13) & alive[2:]
    assert int(above.sum()) >= 48  # most zerglings came round to the colossi's lane


def test_without_terrain_the_map_is_smax_open_map():
    env = smac.make("2c_vs_64zg", terrain=False)
    assert env.sim.terrain is None and env.sim.attack_point is None
    *_, es = env.reset(KEY)
    centres = [es.state.unit_positions[:2].mean(0), es.state.unit_positions[2:].mean(0)]
    np.testing.assert_allclose(centres, [[8, 16], [24, 16]], atol=1.5)
    assert smac.make("2s3z").sim.terrain is None  # maps without a layout keep SMAX's


def test_only_the_wall_inside_the_map_is_a_cliff(terrain):
    wall = terrain.box_cliff
    assert int(wall.sum()) == 1
    np.testing.assert_allclose(terrain.box_centre[wall][0], [16.0, 12.5])
    # a colossus pressed into the wall passes over it only as a cliff walker; the map's edge
    # holds everyone
    pos, radius = jnp.array([[16.5, 13.5], [16.5, 13.5], [-0.2, 10.0]]), jnp.array([1.0, 1.0, 1.0])
    out = terrain.push_out(pos, radius, jnp.array([False, True, True]))
    np.testing.assert_allclose(out, [[16.5, 14.0], [16.5, 13.5], [1.0, 10.0]], atol=1e-5)


@pytest.mark.parametrize("cliff_walk", [False, True])
def test_colossi_stand_on_the_wall_only_with_cliff_walk(cliff_walk):
    """Colossi set down on the wall, clear of the zerglings, stay there for a step with
    ``cliff_walk`` (StarCraft II's colossi walk over cliffs) and are pushed off it without."""
    env = smac.make("2c_vs_64zg", cliff_walk=cliff_walk)
    *_, es = env.reset(KEY)
    on_wall = jnp.array([[6.0, 12.5], [9.0, 12.5]])
    es = es.replace(state=es.state.replace(unit_positions=es.state.unit_positions.at[:2].set(on_wall)))
    *_, es = jax.jit(env.step)(KEY, es, jnp.array([STOP, STOP]))
    y = es.state.unit_positions[:2, 1]
    off_the_wall = (y >= 13.0 + 1.0 - 1e-4) | (y <= 12.0 - 1.0 + 1e-4)  # radius 1 from its faces
    assert bool(jnp.all(y == 12.5)) if cliff_walk else bool(jnp.all(off_the_wall)), y
