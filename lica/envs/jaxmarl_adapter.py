"""Run LICA on any cooperative jaxmarl environment: ``--env jaxmarl:<jaxmarl id>``.

The adapter stacks the per-agent dicts of jaxmarl into the arrays of our protocol
(``lica.envs.base``): observations and action sets of different sizes are zero-padded (padded
actions are never available); the global state is the environment's ``world_state`` when it
has one, else all observations concatenated; the shared reward is the mean of the agents'
rewards. It calls ``step_env`` (jaxmarl's ``step`` would auto-reset) and reports termination
only before the environment's own step limit, which becomes ``spec.episode_limit``.
"""

import jax
import jax.numpy as jnp

from lica.envs.base import EnvSpec

# Cooperative, discrete-action ids that are known to run through the adapter (``lica list``);
# any other registered jaxmarl id may be tried too.
TASKS = ("MPE_simple_spread_v3", "MPE_simple_reference_v3", "MPE_simple_speaker_listener_v4")


class JaxMarlAdapter:
    def __init__(self, env, episode_limit: int | None = None):
        self.env = env
        self.agents = list(env.agents)
        spaces = [env.action_space(a) for a in self.agents]
        if not all(hasattr(s, "n") for s in spaces):
            raise ValueError("the jaxmarl adapter needs discrete action spaces; this environment has continuous ones")
        self._n_actions = [int(s.n) for s in spaces]
        limit = episode_limit or getattr(env, "max_steps", None)
        if limit is None:
            raise ValueError("this jaxmarl environment has no max_steps; pass --set env_args.episode_limit=N")
        obs, _ = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        self._has_world_state = "world_state" in obs
        self._obs_dims = [obs[a].shape[-1] for a in self.agents]
        state_dim = obs["world_state"].shape[-1] if self._has_world_state else sum(self._obs_dims)
        self.spec = EnvSpec(n_agents=len(self.agents), obs_dim=max(self._obs_dims), state_dim=state_dim,
                            n_actions=max(self._n_actions), episode_limit=int(limit))

    def _arrays(self, obs, env_state):
        obs_arr = jnp.stack([jnp.pad(obs[a], (0, self.spec.obs_dim - d))
                             for a, d in zip(self.agents, self._obs_dims)]).astype(jnp.float32)
        state = obs["world_state"] if self._has_world_state else jnp.concatenate([obs[a] for a in self.agents])
        try:
            avail_dict = self.env.get_avail_actions(env_state)
            avail = jnp.stack([jnp.pad(avail_dict[a], (0, self.spec.n_actions - n))
                               for a, n in zip(self.agents, self._n_actions)])
        except NotImplementedError:
            avail = jnp.stack([jnp.arange(self.spec.n_actions) < n for n in self._n_actions])
        return obs_arr, state.astype(jnp.float32), avail.astype(jnp.float32)

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        return (*self._arrays(obs, env_state), (env_state, jnp.zeros((), jnp.int32)))

    def step(self, key, env_state, actions):
        inner, t = env_state
        joint = {a: actions[i] for i, a in enumerate(self.agents)}
        obs, inner, rewards, dones, _ = self.env.step_env(key, inner, joint)
        reward = jnp.mean(jnp.stack([rewards[a] for a in self.agents])).astype(jnp.float32)
        terminated = dones["__all__"] & (t + 1 < self.spec.episode_limit)
        return (*self._arrays(obs, inner), reward, terminated, {}, (inner, t + 1))


def make(task: str | None = None, episode_limit: int | None = None, **env_kwargs):
    import jaxmarl

    if task not in jaxmarl.registered_envs:
        raise ValueError(f"unknown jaxmarl environment '{task}'; choose one of: {', '.join(jaxmarl.registered_envs)}")
    return JaxMarlAdapter(jaxmarl.make(task, **env_kwargs), episode_limit)
