"""SMAX with the two unit types it lacks for the paper's maps: the Colossus and the Medivac.

``UnitSMAX`` subclasses jaxmarl's ``SMAX`` (same state layout plus ``unit_energy``, same
observation layout, same action encoding) and ``HeuristicEnemyUnitSMAX`` subclasses its
``HeuristicEnemySMAX``. Every statistic and every departure from SMAC is listed in
``docs/smac.md``; in short:

* The six SMAX unit types keep SMAX's statistics; health includes shields (SMAX's convention).
* Colossus (type 6): 200 hp + 150 shields, armor 1, an attack of 2 hits of 10 (+5 each against
  light units; StarCraft II LotV), cooldown 1.07, range 7, speed 3.15, sight 10. Its attack hits
  the target and every other ground unit of the target's side within ``COLOSSUS_SPLASH`` (1.0)
  of the target. Armor comes off each hit on its hit points, not on its shields.
* Medivac (type 7): 150 hp, armor 1, flying, no weapon. Its attack actions address *allies*
  and heal them by 12.6 hp/s, one energy per 3 hp healed (energy 50 at start, max 200,
  regenerates 0.7875/s), never above the target's maximum health, only biological units (not
  itself, not colossi, stalkers or other medivacs), range 4, speed 3.5, sight 11.
* Flying units collide only with flying units and can be attacked only by units with an
  anti-air weapon (marine, stalker, hydralisk), so marauders, zealots, zerglings and colossi
  cannot target a medivac.
* A side with no unit able to attack left (all dead, or only medivacs) has lost the battle.
  ``is_terminal`` reports only that: there is no time-out here.
* The reward is SMAC's: damage dealt to enemy units, +10 per kill, +200 for a win, scaled so
  that the maximum return of an episode is 20 (``reward_scale_rate``).
* The medivac's energy takes the place of its weapon cooldown in observations and the state.
  The state keeps SMAX's ``world_state`` layout but is normalized to [0, 1].
* The heuristic enemy ignores targets it cannot hit, and its medivacs heal the nearest injured
  visible ally (or follow the nearest ally) instead of attacking.
* Terrain (``lica.envs.terrain``), where a map has it (2c_vs_64zg), stops movement, and the
  heuristic enemy walks around it along shortest paths. With ``cliff_walk``, colossi pass over
  the cliffs within the map (its wall), as StarCraft II's colossi walk up and down cliffs.
* Unlike SMAC: no terrain on the other maps, no armor or attribute bonuses for SMAX's six
  types, no shield regeneration, per-type ranges instead of SMAC's uniform 6 / 9, the colossus
  beam is a disc around its target, each enemy's health loss is clipped at 0 (SMAC takes
  ``abs`` of the summed change), and a side left with only medivacs has lost on both sides.

Attack slot ``k`` (action ``5 + k``) of an ally addresses enemy ``k`` (ally ``k`` for a medivac,
as in SMAC); of an enemy it addresses ally ``num_allies - 1 - k`` (enemy ``num_agents - 1 - k``
for a medivac), mirroring SMAX's reversed order for the enemy team.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax.struct import dataclass
from jaxmarl.environments.smax import HeuristicEnemySMAX
from jaxmarl.environments.smax.distributions import UniformUnitTypeDistribution
from jaxmarl.environments.smax.heuristic_enemy import create_heuristic_policy
from jaxmarl.environments.smax.smax_env import SMAX, State

# Per unit type: name, shorthand, speed, damage per attack, attack range, sight range, radius,
# health (hit points + shields), weapon cooldown. 0-5 are SMAX's defaults (jaxmarl 0.2.0).
UNIT_TYPES = (
    # name        short speed  dmg   range sight radius  health cooldown
    ("marine",    "m", 3.15,  9.0,  5.0,  9.0, 0.375,   45.0, 0.61),
    ("marauder",  "M", 2.25, 10.0,  6.0, 10.0, 0.5625, 125.0, 1.07),
    ("stalker",   "s", 4.13, 13.0,  6.0, 10.0, 0.625,  160.0, 1.87),
    ("zealot",    "Z", 3.15,  8.0,  2.0,  9.0, 0.5,    150.0, 0.86),
    ("zergling",  "z", 4.13,  5.0,  2.0,  8.0, 0.375,   35.0, 0.5),
    ("hydralisk", "h", 3.15, 12.0,  5.0,  9.0, 0.625,   80.0, 0.59),
    ("colossus",  "c", 3.15, 20.0,  7.0, 10.0, 1.0,    350.0, 1.07),
    ("medivac",   "V", 3.5,   0.0,  4.0, 11.0, 0.75,   150.0, 1.0),  # cooldown unused: heals continuously
)
MARINE, MARAUDER, STALKER, ZEALOT, ZERGLING, HYDRALISK, COLOSSUS, MEDIVAC = range(8)
N_SMAX_TYPES = 6  # the types SMAX draws from for its random (smacv2_*) scenarios

# StarCraft II's armor, shields and Light attribute, for the two types added here only: SMAX's six
# types keep SMAX's statistics (no armor, no bonus), so SMAX's own maps are unchanged.
ARMOR = {COLOSSUS: 1.0, MEDIVAC: 1.0}  # taken off every hit on the hull (not on shields)
SHIELDS = {COLOSSUS: 150.0}  # the part of the health that armor does not protect
LIGHT = (MARINE, ZEALOT, ZERGLING, HYDRALISK)
LIGHT_BONUS = {COLOSSUS: 10.0}  # Thermal Lances: +5 vs light on each of its two hits
HITS_PER_ATTACK = {COLOSSUS: 2.0}  # armor counts once per hit
MIN_DAMAGE = 0.5  # per hit, however thick the armor
SMAC_SHOOT_RANGE = 6.0  # how far SMAC's attack orders reach, for every unit type

COLOSSUS_SPLASH = 1.0  # radius around the target hit by a colossus attack (docs/smac.md)
MEDIVAC_HEAL_RATE = 12.6  # hit points healed per second
HP_PER_ENERGY = 3.0  # hit points healed per point of energy
MAX_ENERGY = 200.0
START_ENERGY = 50.0
ENERGY_REGEN = 0.7875  # energy per second

_FLYING = (MEDIVAC,)
_ANTI_AIR = (MARINE, STALKER, HYDRALISK)
_BIOLOGICAL = (MARINE, MARAUDER, ZEALOT, ZERGLING, HYDRALISK)
_CLIFF_WALKERS = (COLOSSUS,)


def _flags(types):
    return jnp.array([t in types for t in range(len(UNIT_TYPES))])


def _column(i):
    return jnp.array([row[i] for row in UNIT_TYPES])


def _per_type(values, default=0.0):
    return jnp.array([values.get(t, default) for t in range(len(UNIT_TYPES))])


@dataclass
class UnitState(State):
    """SMAX's state plus each unit's energy (only medivacs have any)."""

    unit_energy: jax.Array


class UnitSMAX(SMAX):
    """SMAX with colossi, medivacs, flying units, SMAC's reward and battle-only termination."""

    def __init__(self, reward_win=200.0, reward_death_value=10.0, reward_scale_rate=20.0,
                 terrain=None, team_centres=None, attack_point=None, attack_orders=False,
                 allies_only=False, cliff_walk=False, **kwargs):
        """``terrain`` (a ``lica.envs.terrain.Terrain`` or None for SMAX's open map) blocks
        movement; ``team_centres`` ``((x, y), (x, y))`` are the centres of the allies' and the
        enemies' start squares (SMAX's: a quarter of the map from each side); ``attack_point``
        is where heuristic enemies head when they see no one (SMAX's: their start point
        mirrored through the map's centre). ``attack_orders``: the allies act through SMAC's
        interface: an attack (or heal) is available on any valid target within
        ``SMAC_SHOOT_RANGE``, and a unit whose weapon does not reach it walks at it first, as
        StarCraft II carries out the order; False: SMAX's, the target must be in the weapon's
        range. ``allies_only``: ``get_obs`` (which ``reset`` and every step end with) and
        ``get_avail_actions`` cover the allies alone, for a caller that plays the enemies
        itself. ``cliff_walk``: colossi pass over the terrain's cliffs (``Terrain.box_cliff``)."""
        super().__init__(
            unit_type_names=[row[0] for row in UNIT_TYPES],
            unit_type_shorthands=[row[1] for row in UNIT_TYPES],
            unit_type_velocities=_column(2), unit_type_attacks=_column(3),
            unit_type_attack_ranges=_column(4), unit_type_sight_ranges=_column(5),
            unit_type_radiuses=_column(6), unit_type_health=_column(7),
            unit_type_weapon_cooldowns=_column(8), **kwargs)
        self.unit_type_splash = jnp.zeros(len(UNIT_TYPES)).at[COLOSSUS].set(COLOSSUS_SPLASH)
        self.unit_type_heal_rate = jnp.zeros(len(UNIT_TYPES)).at[MEDIVAC].set(MEDIVAC_HEAL_RATE)
        self.unit_type_is_healer = self.unit_type_heal_rate > 0
        self.unit_type_flying = _flags(_FLYING)
        self.unit_type_anti_air = _flags(_ANTI_AIR)
        self.unit_type_biological = _flags(_BIOLOGICAL)
        # None without cliff_walk: push_out then skips the cliff test in every world step
        self.unit_type_over_cliffs = _flags(_CLIFF_WALKERS) if cliff_walk else None
        self.unit_type_armor, self.unit_type_shields = _per_type(ARMOR), _per_type(SHIELDS)
        self.unit_type_light, self.unit_type_light_bonus = _flags(LIGHT), _per_type(LIGHT_BONUS)
        self.unit_type_hits = _per_type(HITS_PER_ATTACK, 1.0)
        # each unit's type where the scenario fixes it (None: drawn per battle), so that a step
        # computes only what its units can do; units whose attack splashes (random scenarios
        # draw no colossus)
        fixed = self.scenario is not None and not self.smacv2_unit_type_generation
        self.fixed_types = self.scenario.tolist() if fixed else None
        splash = self.unit_type_splash.tolist()
        splashes = [] if not fixed else [i for i, t in enumerate(self.fixed_types) if splash[t] > 0]
        self.splashers = jnp.array(splashes, dtype=jnp.int32)
        self.terrain, self.attack_point, self.attack_orders = terrain, attack_point, attack_orders
        self.covered = range(self.num_allies if allies_only else self.num_agents)
        smax_centres = ((self.map_width / 4, self.map_height / 2), (self.map_width * 3 / 4, self.map_height / 2))
        self.team_centres = jnp.array(team_centres or smax_centres, dtype=jnp.float32)
        self.reward_win, self.reward_death_value = reward_win, reward_death_value
        self.reward_scale_rate = reward_scale_rate
        # random scenarios keep drawing from SMAX's six types only
        self.unit_type_generator = UniformUnitTypeDistribution(
            self.num_allies, self.num_enemies, self.map_width, self.map_height, N_SMAX_TYPES)

    def may_be(self, team: int, flags) -> bool:
        """Whether a unit of ``team`` (0 allies, 1 enemies) may have a type where ``flags`` (per
        type) is True: False only where the scenario's fixed types rule it out, so that a step
        can skip work that could change nothing."""
        if self.fixed_types is None:
            return True
        types = self.fixed_types[self.num_allies:] if team else self.fixed_types[: self.num_allies]
        return bool(np.any(np.asarray(flags)[types]))

    # ----- reset -----------------------------------------------------------------------------

    def _start_positions(self, key):
        # as SMAX: each team in a 4x4 square around its start point, or SMACv2's distribution
        noise_key, generated_key = jax.random.split(key)
        team = (jnp.arange(self.num_agents) >= self.num_allies).astype(jnp.int32)
        pos = self.team_centres[team] + jax.random.uniform(noise_key, (self.num_agents, 2), minval=-2, maxval=2)
        if self.smacv2_position_generation:
            pos = self.position_generator.generate(generated_key)
        return pos

    def _start_types(self, key):
        if self.smacv2_unit_type_generation:
            return self.unit_type_generator.generate(key)
        if self.scenario is None:
            return jnp.zeros((self.num_agents,), dtype=jnp.uint8)
        return self.scenario

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key):
        pos_key, type_key = jax.random.split(key)
        types = self._start_types(type_key)
        state = UnitState(
            unit_positions=self._start_positions(pos_key),
            unit_alive=jnp.ones((self.num_agents,), dtype=bool),
            unit_teams=(jnp.arange(self.num_agents) >= self.num_allies).astype(jnp.float32),
            unit_health=self.unit_type_health[types],
            unit_types=types,
            unit_weapon_cooldowns=jnp.zeros((self.num_agents,)),
            unit_energy=jnp.where(self.unit_type_is_healer[types], START_ENERGY, 0.0).astype(jnp.float32),
            prev_movement_actions=jnp.zeros((self.num_agents, 2)),
            prev_attack_actions=jnp.zeros((self.num_agents,), dtype=jnp.int32),
            step=jnp.array(0),
            done=jnp.array(False),
        )
        state = self._push_units_away(state)
        obs = self.get_obs(state)
        obs["world_state"] = self.get_world_state(state)
        return obs, state

    # ----- targeting -------------------------------------------------------------------------

    def slot_targets(self, unit_types):
        """``[num_agents, n_slots]`` unit addressed by each attack slot, and whether it exists."""
        n, n_al, n_en = self.num_agents, self.num_allies, self.num_enemies
        k = jnp.arange(max(n_al, n_en))[None, :]
        ally = (jnp.arange(n) < n_al)[:, None]
        healer = self.unit_type_is_healer[unit_types][:, None]
        ally_target = jnp.where(healer, k, n_al + k)
        enemy_target = jnp.where(healer, n - 1 - k, n_al - 1 - k)
        target = jnp.where(ally, ally_target, enemy_target)
        n_targets = jnp.where(ally == healer, n_al, n_en)  # an ally medivac or an enemy attacker addresses allies
        return jnp.clip(target, 0, n - 1), k < n_targets

    def can_target(self, state, i, j, reach=None):
        """Unit i may attack (or, for a medivac, heal) unit j right now, cooldown aside; ``i`` and
        ``j`` are index arrays that broadcast, so only the pairs asked for are computed. ``reach``:
        how close j must be (default: i's weapon range)."""
        types, pos, alive = state.unit_types, state.unit_positions, state.unit_alive
        reach = self.unit_type_attack_ranges[types[i]] if reach is None else reach
        in_range = jnp.linalg.norm(pos[i] - pos[j], axis=-1) < reach
        same_team = state.unit_teams[i] == state.unit_teams[j]
        healer = self.unit_type_is_healer[types[i]]
        hittable = ~self.unit_type_flying[types[j]] | self.unit_type_anti_air[types[i]]
        heals = healer & same_team & self.unit_type_biological[types[j]]
        attacks = ~healer & ~same_team & hittable
        return alive[i] & alive[j] & (i != j) & in_range & (heals | attacks)

    def order_reach(self, state):
        """How far each unit's attack order reaches: its weapon's range, and for the allies with
        ``attack_orders`` at least SMAC's."""
        weapon = self.unit_type_attack_ranges[state.unit_types]
        if not self.attack_orders:
            return weapon
        return jnp.where(jnp.arange(self.num_agents) < self.num_allies, jnp.maximum(weapon, SMAC_SHOOT_RANGE), weapon)

    def chosen_targets(self, state, attack_actions):
        """The unit each unit's attack action addresses, and whether it addresses one at all (an
        attack action on an existing slot), range and validity aside."""
        slot = jnp.maximum(attack_actions - self.num_movement_actions, 0)
        targets, exists = self.slot_targets(state.unit_types)
        slot = jnp.minimum(slot, targets.shape[1] - 1)
        target = jnp.take_along_axis(targets, slot[:, None], 1)[:, 0]
        slot_exists = jnp.take_along_axis(exists, slot[:, None], 1)[:, 0]
        return target, (attack_actions >= self.num_movement_actions) & slot_exists

    @partial(jax.jit, static_argnums=(0,))
    def get_avail_actions(self, state):
        """Each ``covered`` unit's available actions (moves while alive, stop, attack slots)."""
        units = jnp.array(self.covered)
        targets, exists = self.slot_targets(state.unit_types)
        reach = self.order_reach(state)[units, None]
        shootable = self.can_target(state, units[:, None], targets[units], reach) & exists[units]
        moves = jnp.repeat(state.unit_alive[units, None], self.num_movement_actions - 1, 1)
        stop = jnp.ones((len(units), 1), dtype=bool)
        masks = jnp.concatenate([moves, stop, shootable], 1).astype(jnp.uint8)
        width = {0: self.num_ally_actions, 1: self.num_enemy_actions}
        return {self.agents[u]: masks[k, : width[int(u >= self.num_allies)]] for k, u in enumerate(self.covered)}

    # ----- one world step (1/16 s) -----------------------------------------------------------

    def _moved_positions(self, state, movement):
        speed = self.unit_type_velocities[state.unit_types][:, None]
        pos = state.unit_positions + movement * speed * self.time_per_step
        pos = jnp.clip(pos, 0.0, jnp.array([self.map_width, self.map_height]))
        return jnp.where(state.unit_alive[:, None], pos, state.unit_positions)

    def damage(self, state, i, j):
        """Damage of one attack of unit i on unit j (broadcasting index arrays). The light bonus
        adds to each hit; armor comes off each hit once the shields are gone, down to
        ``MIN_DAMAGE`` a hit."""
        types = state.unit_types
        hits = self.unit_type_hits[types[i]]
        bonus = self.unit_type_light_bonus[types[i]] * self.unit_type_light[types[j]]
        hull = state.unit_health[j] <= self.unit_type_health[types[j]] - self.unit_type_shields[types[j]]
        armor = jnp.where(hull, self.unit_type_armor[types[j]], 0.0)
        return jnp.maximum(self.unit_type_attacks[types[i]] + bonus - hits * armor, hits * MIN_DAMAGE)

    def area_damage(self, state, target, strikes):
        """Damage each unit receives from the attacks ``strikes`` (bool per unit) at ``target``:
        every attack hits its target; only the units able to splash (known from the scenario,
        so the pairwise part stays small) also hit the target's neighbours."""
        units = jnp.arange(self.num_agents)
        direct = jnp.zeros(self.num_agents).at[target].add(jnp.where(strikes, self.damage(state, units, target), 0.0))
        s = self.splashers[:, None]
        near = jnp.linalg.norm(state.unit_positions[target[s]] - state.unit_positions[units], axis=-1)
        hittable = ~self.unit_type_flying[state.unit_types[units]] | self.unit_type_anti_air[state.unit_types[s]]
        splash = ((near <= self.unit_type_splash[state.unit_types[s]]) & (units != target[s]) & hittable
                  & (state.unit_teams[s] != state.unit_teams[units]) & state.unit_alive[units] & strikes[s])
        return direct + jnp.sum(jnp.where(splash, self.damage(state, s, units), 0.0), axis=0)

    def heal(self, state, health, target, heals):
        """Apply the heals ``heals`` (bool per unit) at ``target`` to ``health``; spend energy."""
        types = state.unit_types
        max_health = self.unit_type_health[types]
        missing = jnp.where(health > 0, max_health - health, 0.0)
        amount = jnp.minimum(self.unit_type_heal_rate[types] * self.time_per_step, state.unit_energy * HP_PER_ENERGY)
        amount = jnp.where(heals, jnp.minimum(amount, missing[target]), 0.0)
        health = jnp.minimum(health + jnp.zeros_like(health).at[target].add(amount), max_health)
        regen = jnp.where(self.unit_type_is_healer[types] & state.unit_alive, ENERGY_REGEN * self.time_per_step, 0.0)
        energy = jnp.clip(state.unit_energy - amount / HP_PER_ENERGY + regen, 0.0, MAX_ENERGY)
        return health, energy

    def _new_cooldowns(self, key, state, strikes):
        # pysc2-like jitter of the cooldown, as SMAX does
        jitter = jax.random.uniform(key, (self.num_agents,), minval=-self.time_per_step, maxval=2 * self.time_per_step)
        reload = self.unit_type_weapon_cooldowns[state.unit_types] + jitter
        return jnp.where(strikes, reload, jnp.maximum(state.unit_weapon_cooldowns - self.time_per_step, 0.0))

    @partial(jax.jit, static_argnums=(0,))
    def _world_step(self, key, state, actions):
        movement, attack_actions = actions
        target, addressed = self.chosen_targets(state, attack_actions)
        units = jnp.arange(self.num_agents)
        valid = addressed & self.can_target(state, units, target)
        if self.attack_orders:
            ordered = addressed & self.can_target(state, units, target, self.order_reach(state))
            movement = self.walk_to(state, movement, target, ordered & ~valid)
        healer = self.unit_type_is_healer[state.unit_types]
        strikes = valid & ~healer & (state.unit_weapon_cooldowns <= 0.0)
        heals = valid & healer & (state.unit_energy > 0.0)
        health = jnp.maximum(state.unit_health - self.area_damage(state, target, strikes), 0.0)
        health, energy = self.heal(state, health, target, heals)
        return state.replace(
            unit_positions=self._moved_positions(state, movement), unit_health=health, unit_energy=energy,
            unit_weapon_cooldowns=self._new_cooldowns(key, state, strikes))

    def walk_to(self, state, movement, target, walking):
        """``attack_orders``: the units ``walking`` (ordered to attack or heal a target beyond their
        weapon's range) walk straight at their target this world step instead of striking."""
        offset = state.unit_positions[target] - state.unit_positions
        heading = offset / jnp.maximum(jnp.linalg.norm(offset, axis=-1, keepdims=True), 1e-6)
        return jnp.where(walking[:, None], heading, movement)

    def _push_units_away(self, state, firmness: float = 1.0):
        # as SMAX, but flying units collide only with flying units and ground with ground; x and y
        # are kept as separate [n, n] arrays, 4x faster on CPU than one [n, n, 2] array
        flying = self.unit_type_flying[state.unit_types]
        touching = state.unit_alive[:, None] & state.unit_alive[None, :] & (flying[:, None] == flying[None, :])
        x, y = state.unit_positions[:, 0], state.unit_positions[:, 1]
        dx, dy = x[:, None] - x[None, :], y[:, None] - y[None, :]
        dist = jnp.sqrt(dx * dx + dy * dy) + jnp.identity(self.num_agents) + 1e-6
        radius = self.unit_type_radiuses[state.unit_types]
        overlap = jnp.where(touching, jax.nn.relu((radius[:, None] + radius[None, :]) / dist - 1.0), 0.0)
        shift = jnp.stack([jnp.sum(dx * overlap, axis=1), jnp.sum(dy * overlap, axis=1)], axis=-1)
        pos = state.unit_positions + firmness * shift / 2
        if self.terrain is not None:  # after this world step's moves and pushes, out of any wall
            over = None if self.unit_type_over_cliffs is None else self.unit_type_over_cliffs[state.unit_types]
            pos = self.terrain.push_out(pos, radius, over)
        return state.replace(unit_positions=jnp.where(state.unit_alive[:, None], pos, state.unit_positions))

    # ----- outcome and reward ------------------------------------------------------------------

    def defeated(self, unit_types, health):
        """``(allies_defeated, enemies_defeated)``: no unit able to attack is left on that side."""
        fighting = (health > 0) & ~self.unit_type_is_healer[unit_types]
        return ~jnp.any(fighting[: self.num_allies]), ~jnp.any(fighting[self.num_allies:])

    def won(self, unit_types, health):
        allies_defeated, enemies_defeated = self.defeated(unit_types, health)
        return enemies_defeated & ~allies_defeated

    @partial(jax.jit, static_argnums=(0,))
    def is_terminal(self, state):
        allies_defeated, enemies_defeated = self.defeated(state.unit_types, state.unit_health)
        return allies_defeated | enemies_defeated

    def smac_reward(self, unit_types, health_before, health_after):
        """SMAC's dense reward of one step, scaled so that an episode's maximum is ``reward_scale_rate``."""
        enemy = jnp.arange(self.num_agents) >= self.num_allies
        damage = jnp.maximum(health_before - health_after, 0.0)  # enemies healing themselves is ignored
        kills = (health_before > 0) & (health_after <= 0)
        decided_before = jnp.any(jnp.stack(self.defeated(unit_types, health_before)))
        win = self.won(unit_types, health_after) & ~decided_before
        raw = jnp.sum(jnp.where(enemy, damage + self.reward_death_value * kills, 0.0)) + self.reward_win * win
        max_reward = (self.num_enemies * self.reward_death_value + self.reward_win
                      + jnp.sum(jnp.where(enemy, self.unit_type_health[unit_types], 0.0)))
        return raw * self.reward_scale_rate / max_reward

    @partial(jax.jit, static_argnums=(0,))
    def compute_reward(self, state, health_before, health_after):
        reward = self.smac_reward(state.unit_types, health_before, health_after)
        return {a: reward if i < self.num_allies else -reward for a, i in self.agent_ids.items()}

    # ----- observations -------------------------------------------------------------------------

    def readiness(self, state):
        """Weapon cooldown as a fraction of the unit's cooldown; energy fraction for medivacs."""
        types = state.unit_types
        cooldown = jnp.clip(state.unit_weapon_cooldowns / self.unit_type_weapon_cooldowns[types], 0.0, 1.0)
        return jnp.where(self.unit_type_is_healer[types], state.unit_energy / MAX_ENERGY, cooldown)

    def _observe_features(self, state, i, j_idx):
        return super()._observe_features(state, i, j_idx).at[6].set(self.readiness(state)[j_idx])

    def _get_own_features(self, state, i):
        features = super()._get_own_features(state, i)
        return features.at[3].set(jnp.where(state.unit_alive[i], self.readiness(state)[i], 0.0))

    def others(self):
        """``[n, n - 1]``: the units in each unit's observation, in SMAX's order (an ally lists
        the other units upwards from unit 0, an enemy downwards from the last)."""
        n = self.num_agents
        rows = [[j for j in range(n) if j != i] for i in range(n)]
        return jnp.array([r if i < self.num_allies else r[::-1] for i, r in enumerate(rows)])

    def get_obs(self, state):
        """The observations of the ``covered`` units (every unit, or the allies alone)."""
        return self.get_obs_unit_list(state, self.covered)

    def get_obs_unit_list(self, state, units=None):
        """SMAX's observations of ``units`` (default: all), the same numbers as its per-pair
        ``_observe_features`` (with readiness in slot 6) but built feature by feature over all
        pairs at once: on 2c_vs_64zg (66 units) this is most of a step's cost."""
        units = range(self.num_agents) if units is None else units
        rows = jnp.array(units)
        i, j = rows[:, None], self.others()[rows]
        types, pos = state.unit_types, state.unit_positions
        sight = self.unit_type_sight_ranges[types[i]]
        sees_actions = ((i >= self.num_allies) == (j >= self.num_allies)) | self.see_enemy_actions
        max_action = jnp.where(j < self.num_allies, self.num_ally_actions - 1, self.num_enemy_actions - 1)
        features = jnp.concatenate([
            (state.unit_health[j] / self.unit_type_health[types[j]])[..., None],
            (pos[j] - pos[i]) / sight[..., None],
            jnp.where(sees_actions[..., None], state.prev_movement_actions[j], 0.0),
            jnp.where(sees_actions, state.prev_attack_actions[j].astype(jnp.float32) / max_action, 0.0)[..., None],
            self.readiness(state)[j][..., None],
            jax.nn.one_hot(types[j], self.unit_type_bits),
        ], axis=-1)
        visible = (jnp.linalg.norm(pos[j] - pos[i], axis=-1) < sight) & state.unit_alive[i] & state.unit_alive[j]
        features = jnp.where(visible[..., None], features, 0.0).reshape(len(units), -1)
        own = jax.vmap(self._get_own_features, in_axes=(None, 0))(state, rows)
        obs = jnp.concatenate([features, own], axis=-1)
        return {self.agents[u]: obs[k] for k, u in enumerate(units)}

    def get_world_state(self, state):
        """SMAX's ``world_state`` layout (per unit: health, x, y, cooldown, type bits; then teams,
        types), normalized to [0, 1] by each feature's maximum as SMAC does."""
        types = state.unit_types
        per_unit = jnp.concatenate([
            (state.unit_health / self.unit_type_health[types])[:, None],
            state.unit_positions / jnp.array([self.map_width, self.map_height]),
            self.readiness(state)[:, None],
            jax.nn.one_hot(types, self.unit_type_bits),
        ], axis=1)
        per_unit = jnp.where(state.unit_alive[:, None], per_unit, 0.0)
        return jnp.concatenate([per_unit.reshape(-1), state.unit_teams, types / (self.unit_type_bits - 1)])


class HeuristicEnemyUnitSMAX(HeuristicEnemySMAX):
    """SMAX's heuristic enemy on ``UnitSMAX``: it never picks targets it cannot hit, and its
    medivacs heal (the nearest injured visible ally) or follow (the nearest ally) instead."""

    def __init__(self, enemy_shoots=True, attack_mode="closest", **env_kwargs):
        # what EnemySMAX.__init__ and HeuristicEnemySMAX.__init__ set, around a UnitSMAX; the
        # enemies' observations are built where their heuristic acts (``step_env``), so the end
        # of a step builds the allies' alone (2c_vs_64zg: 2 of 66 units), and their actions
        # need no availability
        self._env = UnitSMAX(allies_only=True, **env_kwargs)
        self.num_agents = self.num_allies = self._env.num_allies
        self.num_enemies = self._env.num_enemies
        self.agents = [f"ally_{i}" for i in range(self.num_agents)]
        self.enemy_agents = [f"enemy_{i}" for i in range(self.num_enemies)]
        self.all_agents = self.agents + self.enemy_agents
        self.observation_spaces = {a: self._env.observation_spaces[a] for a in self.agents}
        self.action_spaces = {a: self._env.action_spaces[a] for a in self.agents}
        self.enemy_shoots, self.attack_mode = enemy_shoots, attack_mode
        self.heuristic_policy = create_heuristic_policy(self._env, 1, shoot=enemy_shoots, attack_mode=attack_mode)

    def get_enemy_policy_initial_state(self, key):
        # strongly typed, as ``step_env`` returns it, so that reset and step states match exactly
        state = super().get_enemy_policy_initial_state(key)
        return jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), state)

    def _unit_blocks(self, obs):
        """The per-other-unit feature blocks of an enemy's observation: teammates first."""
        env = self._env
        n_features = len(env.unit_features)
        return obs[: (env.num_agents - 1) * n_features].reshape(env.num_agents - 1, n_features)

    def _hide_unhittable(self, obs, own_type):
        """Blank the opposing units this unit's weapon cannot hit, so the heuristic ignores them."""
        env = self._env
        blocks = self._unit_blocks(obs)
        flying = blocks[:, 7:] @ env.unit_type_flying.astype(jnp.float32) > 0
        opposing = jnp.arange(env.num_agents - 1) >= env.num_enemies - 1
        hide = opposing & flying & ~env.unit_type_anti_air[own_type]
        blocks = jnp.where(hide[:, None], 0.0, blocks)
        return jnp.concatenate([blocks.reshape(-1), obs[blocks.size:]])

    def medivac_action(self, obs, enemy_index):
        """Heal the nearest injured visible biological teammate in range, else fly to it, else
        follow the nearest one (stop when within 1 of it)."""
        env = self._env
        mates = self._unit_blocks(obs)[: env.num_enemies - 1]
        health = mates[:, 0]
        offset = mates[:, 1:3] * env.unit_type_sight_ranges[MEDIVAC]
        healable = (health > 0) & (mates[:, 7:] @ env.unit_type_biological.astype(jnp.float32) > 0)
        injured = healable & (health < 1.0)
        dist = jnp.linalg.norm(offset, axis=-1)
        any_injured = jnp.any(injured)
        k = jnp.where(any_injured, jnp.argmin(jnp.where(injured, dist, jnp.inf)),
                      jnp.argmin(jnp.where(healable, dist, jnp.inf)))
        # teammate k of the observation -> unit index -> this team's medivac slot
        me, last = env.num_allies + enemy_index, env.num_agents - 1
        unit = jnp.where(last - k > me, last - k, last - k - 1)
        heal = env.num_movement_actions + last - unit
        move = jnp.argmax(jnp.array([[0, 1], [1, 0], [0, -1], [-1, 0]]) @ offset[k])
        stop = env.num_movement_actions - 1
        go = jnp.any(healable) & (any_injured | (dist[k] > 1.0))
        return jnp.where(any_injured & (dist[k] < env.unit_type_attack_ranges[MEDIVAC]), heal,
                         jnp.where(go, move, stop))

    def _own_position(self, obs):
        env = self._env
        start = (env.num_agents - 1) * len(env.unit_features)
        return obs[start + 1: start + 3] * jnp.array([env.map_width, env.map_height])

    def _route(self, obs, own_type, own):
        """On terrain: show each opposing unit out of attack range where the path to it from
        ``own`` (this unit's position) leads: its next waypoint, still out of range. So SMAX's
        heuristic, which walks straight at what it sees, walks around blocked tiles instead."""
        env = self._env
        blocks = self._unit_blocks(obs)
        mates, foes = blocks[: env.num_enemies - 1], blocks[env.num_enemies - 1:]
        sight, reach = env.unit_type_sight_ranges[own_type], env.unit_type_attack_ranges[own_type]
        offset = foes[:, 1:3] * sight
        path = env.terrain.waypoint(jnp.broadcast_to(own, offset.shape), own + offset) - own
        path = path * jnp.maximum(1.0, (reach + 0.1) / (jnp.linalg.norm(path, axis=-1, keepdims=True) + 1e-6))
        walk = (foes[:, 0] > 0) & (jnp.linalg.norm(offset, axis=-1) >= reach)
        foes = foes.at[:, 1:3].set(jnp.where(walk[:, None], path / sight, foes[:, 1:3]))
        return jnp.concatenate([mates.reshape(-1), foes.reshape(-1), obs[blocks.size:]])

    def get_enemy_actions(self, key, policy_state, enemy_obs):
        env = self._env
        own_type = jnp.argmax(enemy_obs[:, -env.unit_type_bits:], axis=-1)
        visible = enemy_obs
        if env.may_be(0, env.unit_type_flying) and env.may_be(1, ~np.asarray(env.unit_type_anti_air)):
            visible = jax.vmap(self._hide_unhittable)(enemy_obs, own_type)
        own = jax.vmap(self._own_position)(enemy_obs)
        if env.terrain is not None:
            visible = jax.vmap(self._route)(visible, own_type, own)
        if env.attack_point is not None:
            point = jnp.broadcast_to(jnp.asarray(env.attack_point, dtype=jnp.float32), own.shape)
            if env.terrain is not None:
                point = env.terrain.waypoint(own, point)
            policy_state = policy_state.replace(default_target=point)
        actions, policy_state = super().get_enemy_actions(key, policy_state, visible)
        if env.may_be(1, env.unit_type_is_healer):
            heal = jax.vmap(self.medivac_action)(enemy_obs, jnp.arange(self.num_enemies))
            healer = env.unit_type_is_healer[own_type]
            actions = {a: jnp.where(healer[i], heal[i], actions[a]) for i, a in enumerate(self.enemy_agents)}
        return actions, policy_state
