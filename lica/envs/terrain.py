"""Impassable terrain on a SMAX map: blocked 1 x 1 tiles, sliding movement and path finding.

SMAX's map is flat and open. SMAC's 2c_vs_64zg is not: the zerglings must walk around a
ravine that the colossi shoot across. ``Terrain`` adds that to ``UnitSMAX``:

* ``slide``: a unit's disc may not cut into a blocked tile or leave the map; a move that would
  is pushed back out of the tile, so units glide along walls and round corners (``UnitSMAX``
  applies it to movement and to the collision push).
* ``waypoint``: where a unit heads for to reach a target on the shortest path around blocked
  tiles (8-connected tile graph, no corner cutting), as StarCraft II's path finding would lead
  the heuristic enemy. Costs between all tiles are computed once, with scipy, when the map is
  built.

Ranged attacks and sight are not blocked: StarCraft II's units shoot across unpathable ground.
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
NEAR = jnp.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=jnp.float32)
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

    def tile(self, pos):
        """Index of the tile under each position ``[..., 2]`` (clipped to the map)."""
        x = jnp.clip(jnp.floor(pos[..., 0]), 0, self.width - 1).astype(jnp.int32)
        y = jnp.clip(jnp.floor(pos[..., 1]), 0, self.height - 1).astype(jnp.int32)
        return y * self.width + x

    def _overlaps(self, pos, radius):
        """For the 3 x 3 tiles around each disc (enough for a radius up to 1): the vector from
        the nearest point of the tile to the centre, its length, and how deep a blocked tile
        (or the outside of the map) cuts into the disc."""
        corner = jnp.floor(pos)[..., None, :] + NEAR
        x, y = corner[..., 0].astype(jnp.int32), corner[..., 1].astype(jnp.int32)
        inside = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        blocked = ~inside | self.blocked[jnp.clip(y, 0, self.height - 1), jnp.clip(x, 0, self.width - 1)]
        away = pos[..., None, :] - jnp.clip(pos[..., None, :], corner, corner + 1)
        dist = jnp.linalg.norm(away, axis=-1)
        return away, dist, jnp.where(blocked, jax.nn.relu(radius[..., None] - dist), 0.0)

    def fits(self, pos, radius):
        """Whether a disc of ``radius`` at ``pos`` stays on the map and off blocked tiles."""
        return jnp.all(self._overlaps(pos, radius)[2] <= TOUCH, axis=-1)

    def _push_out(self, pos, radius):
        """Move each disc straight out of the blocked tile that cuts deepest into it."""
        away, dist, depth = self._overlaps(pos, radius)
        k = jnp.argmax(depth, axis=-1)[..., None]
        away, dist = jnp.take_along_axis(away, k[..., None], -2)[..., 0, :], jnp.take_along_axis(dist, k, -1)
        return pos + away / jnp.maximum(dist, 1e-6) * jnp.take_along_axis(depth, k, -1)

    def slide(self, old, new, radius):
        """Move discs from ``old`` to ``new`` (``[n, 2]``), pushed out of any blocked tile they
        cut into, so that they glide along walls and round corners. Where that still
        overlaps (wedged between walls): move along x if the disc fits there, then along y."""
        pushed = self._push_out(self._push_out(new, radius), radius)  # a second pass for corners
        x_moved = old.at[:, 0].set(new[:, 0])
        pos = jnp.where(self.fits(x_moved, radius)[:, None], x_moved, old)
        y_moved = pos.at[:, 1].set(new[:, 1])
        pos = jnp.where(self.fits(y_moved, radius)[:, None], y_moved, pos)
        return jnp.where(self.fits(pushed, radius)[:, None], pushed, pos)

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
