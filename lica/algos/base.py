"""What every algorithm provides to the shared rollout and training loop (DESIGN.md)."""

from typing import Any, Callable, NamedTuple


class Algorithm(NamedTuple):
    """Pure functions of one algorithm, closed over the environment spec and config.

    - ``init(key) -> algo_state``: parameters, optimizer states, counters (a pytree).
    - ``init_carry(batch_shape) -> carry``: what the actors carry between steps (RNN hidden
      state, last action) at the start of an episode.
    - ``act(algo_state, carry, obs, avail, key, greedy) -> (actions, probs, carry)`` for
      ``obs [B, N, obs_dim]``; ``greedy`` is a Python bool (test episodes take the argmax).
    - ``update(algo_state, batch, key) -> (algo_state, metrics)``: one training step on a fresh
      ``Batch``; metrics is a dict of scalars.
    - ``on_policy``: ``update`` learns from the fresh batch alone (no replay) and reads padding
      as absent, so the trainer may cut trailing padding off the batch
      (``lica.batch.update_trimmed``).
    """

    init: Callable[..., Any]
    init_carry: Callable[..., Any]
    act: Callable[..., Any]
    update: Callable[..., Any]
    on_policy: bool = False
