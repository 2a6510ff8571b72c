"""Impassable terrain on a SMAX map: blocked 1 x 1 tiles, sliding movement and path finding.

SMAX's map is flat and open. SMAC's 2c_vs_64zg is not: the zerglings must walk around a
ravine that the colossi shoot across. ``Terrain`` adds that to ``UnitSMAX``:

* ``push_out``: a unit's disc may not cut into a blocked tile or leave the map; one that does
  is pushed back out, so units glide along walls and round corners (``UnitSMAX`` applies it
  after every world step's movement and collisions). Blocked tiles are merged into a few
  boxes, so this is plain arithmetic over ``[units, boxes]``.
* ``waypoint``: where a unit heads for to reach a target on the shortest path around blocked
  tiles (8-connected tile graph, no corner cutting), as StarCraft II's path finding would lead
  the heuristic enemy. Costs between all tiles are computed once, with scipy, when the map is
  built.

Ranged attacks and sight are not blocked: StarCraft II's units shoot across unpathable ground.
Blocked boxes clear of the map's edge are *cliffs* (``box_cliff``): with ``over_cliffs``,
``push_out`` lets a unit pass them, as StarCraft II's colossi walk up and down cliffs
(``UnitSMAX(cliff_walk=True)``); path finding keeps them blocked for everyone else.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

# the 8 neighbouring tiles as (dx, dy); diagonal steps cost sqrt(2)
STEPS = np.array([(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, -1), (-1, 1)])
STEP_COST = np.linalg.norm(STEPS, axis=1)
UNREACHABLE = 1e6
TOUCH = 1e-4  # overlap tolerated: a disc pushed out of a wall just touches it


def ravine(width=32, height=32):
    """SMAClite's layout of 2c_vs_64zg (its "ravine" terrain preset, uoe-agents/smaclite), as
    blocked tiles ``[height, width]`` indexed ``[y, x]``: a corridor of rows 6-19 whose four
    corners are cut by 3, 2 and 1 tiles, split lengthwise by a wall in row 12 that leaves a gap
    of 4 tiles at each end. Rows outside the corridor are blocked."""
    blocked = np.ones((height, width), dtype=bool)
    blocked[6:20] = False
    for depth, (low, high) in enumerate([(6, 19), (7, 18), (8, 17)]):
        cut = 3 - depth
        blocked[[low, high], :cut] = True
        blocked[[low, high], width - cut:] = True
    blocked[12, 4:width - 4] = True
    return blocked


def _neighbours(blocked):
    """``[tiles, 8]`` index of each tile's neighbour in each step direction, and whether that
    step is allowed: both tiles open, and for a diagonal step both tiles it passes between."""
    height, width = blocked.shape
    y, x = np.divmod(np.arange(height * width), width)

    def open_at(xs, ys):
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        return inside & ~blocked[np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)]

    nx, ny = x[:, None] + STEPS[:, 0], y[:, None] + STEPS[:, 1]
    allowed = open_at(x, y)[:, None] & open_at(nx, ny)
    allowed &= open_at(x[:, None] + STEPS[:, 0], y[:, None]) & open_at(x[:, None], y[:, None] + STEPS[:, 1])
    index = np.clip(ny, 0, height - 1) * width + np.clip(nx, 0, width - 1)
    return index, allowed


def _boxes(blocked):
    """The blocked tiles as few rectangles ``(low, high)``, each ``[boxes, 2]`` (x, y): each row's
    runs of blocked tiles, merged with the same run in the rows above, plus four boxes that
    wall in the map."""
    height, width = blocked.shape
    open_boxes, boxes = {}, []  # run (x0, x1) -> box reaching the current row; finished boxes
    for y in range(height + 1):
        row = blocked[y] if y < height else np.zeros(width, dtype=bool)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        runs = set(zip(edges[::2].tolist(), edges[1::2].tolist()))
        for run in set(open_boxes) - runs:
            boxes.append(open_boxes.pop(run) + [run[1], y])
        for run in runs - set(open_boxes):
            open_boxes[run] = [run[0], y]
    far = width + height
    boxes += [[-far, -far, 0, far], [width, -far, far, far], [-far, -far, far, 0], [-far, height, far, far]]
    boxes = np.array(boxes, dtype=np.float32)
    return boxes[:, :2], boxes[:, 2:]


class Terrain:
    """Blocked tiles ``[height, width]`` (``[y, x]``, tile ``(x, y)`` covers ``[x, x+1) x [y, y+1)``)."""

    def __init__(self, blocked):
        blocked = np.asarray(blocked, dtype=bool)
        self.height, self.width = blocked.shape
        self.blocked = jnp.asarray(blocked)
        index, allowed = _neighbours(blocked)
        rows = np.repeat(np.arange(index.shape[0]), len(STEPS))[allowed.reshape(-1)]
        graph = coo_matrix((np.tile(STEP_COST, index.shape[0])[allowed.reshape(-1)],
                            (rows, index[allowed])), shape=(index.shape[0],) * 2)
        costs = shortest_path(graph.tocsr(), method="D")
        self.costs = jnp.asarray(np.where(np.isfinite(costs), costs, UNREACHABLE), dtype=jnp.float32)
        self.neighbours, self.allowed = jnp.asarray(index), jnp.asarray(allowed)
        low, high = _boxes(blocked)
        self.box_centre, self.box_half = jnp.asarray((low + high) / 2), jnp.asarray((high - low) / 2)
        # a box clear of the map's edge is a cliff within the map (the ravine's wall), which
        # StarCraft II's colossi walk over; the boxes on the edge bound the map for every unit
        self.box_cliff = jnp.asarray(np.all((low > 0) & (high < [self.width, self.height]), axis=-1))

    def tile(self, pos):
        """Index of the tile under each position ``[..., 2]`` (clipped to the map)."""
        x = jnp.clip(jnp.floor(pos[..., 0]), 0, self.width - 1).astype(jnp.int32)
        y = jnp.clip(jnp.floor(pos[..., 1]), 0, self.height - 1).astype(jnp.int32)
        return y * self.width + x

    def _clearance(self, pos, over_cliffs=None):
        """For every disc and blocked box ``[..., boxes]``: the signed distance from the box to
        the disc's centre (negative inside it), and the direction that leads out of the box
        fastest (away from its nearest point; from inside, through its nearest face). For the
        discs where ``over_cliffs [...]`` is True, cliffs are out of the way (infinitely far)."""
        offset = pos[..., None, :] - self.box_centre
        excess = jnp.abs(offset) - self.box_half  # per axis: how far beyond the box's faces
        beyond = jnp.maximum(excess, 0.0)
        outside = jnp.linalg.norm(beyond, axis=-1)
        # the two axes compared elementwise, not reduced: on CPU each reduction over this
        # length-2 axis is a library call, and these are most of a 2c_vs_64zg world step
        x_excess, y_excess = excess[..., 0], excess[..., 1]
        inside = jnp.minimum(jnp.maximum(x_excess, y_excess), 0.0)
        sign = jnp.where(offset < 0, -1.0, 1.0)
        from_point = beyond * sign / jnp.maximum(outside, 1e-6)[..., None]
        through_face = jnp.stack([x_excess >= y_excess, x_excess < y_excess], axis=-1) * sign  # argmax's tie: x
        distance = outside + inside
        if over_cliffs is not None:
            distance = jnp.where(over_cliffs[..., None] & self.box_cliff, jnp.inf, distance)
        return distance, jnp.where((outside > 0)[..., None], from_point, through_face)

    def fits(self, pos, radius):
        """Whether a disc of ``radius`` at ``pos`` stays on the map and off blocked tiles."""
        distance, _ = self._clearance(pos)
        return jnp.all(distance >= radius[..., None] - TOUCH, axis=-1)

    def _push_out_once(self, pos, radius, over_cliffs):
        distance, direction = self._clearance(pos, over_cliffs)
        depth = jax.nn.relu(radius[..., None] - distance)
        deepest = jnp.argmax(depth, axis=-1)[..., None]  # picked, not summed over the boxes (as above)
        return pos + jnp.take_along_axis(direction, deepest[..., None], -2)[..., 0, :] * jnp.take_along_axis(
            depth, deepest, -1)

    def push_out(self, pos, radius, over_cliffs=None):
        """Discs ``[..., 2]`` moved straight out of the blocked box that cuts deepest into them,
        twice (for corners): a unit pressing on a wall glides along it and rounds its corner.
        Correct as long as a unit moves less than its radius between calls (a zergling moves
        0.26 per 1/16 s world step, radius 0.375). The discs where ``over_cliffs [...]`` is True
        pass over cliffs (``box_cliff``) and are held by the map's edge only."""
        once = lambda p: self._push_out_once(p, radius, over_cliffs)
        return once(once(pos))

    def waypoint(self, pos, target):
        """Where a unit at ``pos`` should head to reach ``target`` (``[..., 2]``) along the
        shortest tile path: the centre of the best neighbouring tile, or the target itself
        once in its tile (or if it cannot be reached)."""
        here, goal = self.tile(pos), self.tile(target)
        cost = STEP_COST + self.costs[goal[..., None], self.neighbours[here]]
        best = jnp.argmin(jnp.where(self.allowed[here], cost, jnp.inf), axis=-1)
        step = jnp.take_along_axis(self.neighbours[here], best[..., None], axis=-1)[..., 0]
        centre = jnp.stack([step % self.width, step // self.width], axis=-1) + 0.5
        direct = (here == goal) | (self.costs[goal, here] >= UNREACHABLE)
        return jnp.where(direct[..., None], target, centre)
