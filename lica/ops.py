"""Small pieces of shared math: masked means, masked policies, entropy, TD(lambda) targets.

Every algorithm calls these; each has a test of its own in ``tests/test_ops.py``.
"""

import functools

import jax
import jax.numpy as jnp
import optax

# Large negative logit for unavailable actions (finite, so 0 * logit stays 0 in entropies).
MASKED_LOGIT = -1e10


def masked_mean(x, mask):
    """Mean of ``x`` over the entries where ``mask`` is 1 (``where``, so padding never leaks NaN)."""
    mask = jnp.broadcast_to(mask, x.shape)
    total = jnp.sum(jnp.where(mask > 0, x, 0.0))
    return total / jnp.maximum(jnp.sum(mask), 1.0)


def where_leading(cond, new, old):
    """``new`` where ``cond`` (one flag per entry of the leading axes of ``new``) else ``old``:
    per environment or per seed, whatever trailing axes ``new`` has."""
    return jnp.where(cond.reshape(cond.shape + (1,) * (new.ndim - cond.ndim)), new, old)


def mask_logits(logits, avail):
    """Set the logits of unavailable actions to a very large negative number."""
    return jnp.where(avail > 0, logits, MASKED_LOGIT)


def masked_probs(logits, avail):
    """Softmax over available actions, then zeroed at unavailable ones and renormalized.

    The renormalization is a no-op up to float error but keeps the probabilities the critic
    sees exactly on the simplex of available actions (LICA-REFERENCE, policy step).
    """
    probs = jax.nn.softmax(mask_logits(logits, avail), axis=-1) * avail
    return probs / jnp.maximum(jnp.sum(probs, axis=-1, keepdims=True), 1e-8)


def categorical_entropy(logits, avail):
    """Entropy H(pi) = -sum_u pi(u) log pi(u) of the masked softmax, over the last axis."""
    log_p = jax.nn.log_softmax(mask_logits(logits, avail), axis=-1)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def td_lambda_targets(rewards, terminated, mask, target_q, gamma, lam):
    """TD(lambda) critic targets y^(lambda)_t of Eq. 2, computed backwards in time.

    Args are time-major ``[T+1, ...]``: ``rewards``, ``terminated`` and ``mask`` (1 for the
    transitions that happened) use indices ``0..T-1``; ``target_q`` is the target critic at
    every step ``0..T``, the last one bootstrapping what the batch cut off (a time-out, or a
    segment's ongoing episode). ``y_T = Q_T`` where step ``T-1`` is valid, and
    ``y_t = (1-terminated_t)*lam*gamma*y_{t+1} + mask_t * (r_t + (1-lam)*gamma*Q_{t+1}*(1-terminated_t))``:
    a termination cuts the recursion, so a segment's next episode never leaks into the one that
    ended (in a whole-episode batch the steps after it are padding, and their targets are 0).
    Returns targets for steps ``0..T-1``.
    """
    last = jnp.where(mask[-2] > 0, target_q[-1], 0.0)

    def backward(ret_next, xs):
        r, term, m, q_next = xs
        ret = lam * gamma * (1 - term) * ret_next + jnp.where(m > 0, r + (1 - lam) * gamma * q_next * (1 - term), 0.0)
        return ret, ret

    xs = (rewards[:-1], terminated[:-1], mask[:-1], target_q[1:])
    _, targets = jax.lax.scan(backward, last, xs, reverse=True)
    return targets


def gumbel_softmax_st(key, logits, avail, temperature=1.0):
    """Straight-through Gumbel-softmax sample: one-hot forward, soft-sample gradient (ablation)."""
    gumbel = jax.random.gumbel(key, logits.shape)
    soft = masked_probs((logits + gumbel) / temperature, avail)
    hard = jax.nn.one_hot(jnp.argmax(soft, axis=-1), logits.shape[-1])
    return soft + jax.lax.stop_gradient(hard - soft)


def gradient_step(tx: optax.GradientTransformation, params, opt_state, grads):
    """One optimizer step: ``(new params, new optimizer state)``."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def target_update(params, target, due, tau=1.0):
    """The target network after ``due`` (an integer, possibly 0) updates towards ``params``, each
    ``target <- tau * params + (1 - tau) * target``: with ``tau = 1`` a copy when ``due > 0``.
    Every target network here is updated by this; algorithms differ only in when it is due."""
    rate = 1.0 - (1.0 - tau) ** jnp.asarray(due, jnp.float32)
    return optax.incremental_update(params, target, rate)


def seeds_max(x, seed_axis: str | None):
    """``x``'s largest value over a ``vmap`` over seeds (``seed_axis``; ``x`` itself without one):
    what a shape choice needs so every seed takes the same branch (a per-seed choice would make
    ``vmap`` run every branch of a ``switch`` and select)."""
    return x if seed_axis is None else jax.lax.pmax(x, seed_axis)


def fitting_index(sizes: list[int], need):
    """The index of the first of the increasing ``sizes`` that is at least ``need`` (the last
    one if none is): the ``lax.switch`` branch for the smallest shape that holds ``need``."""
    return jnp.sum(jnp.asarray(sizes[:-1]) < need)


def chunks_for(count, chunk: int):
    """How ``on_valid_rows`` cuts ``count`` valid steps: ``(whole, small, smalls)``, ``whole``
    chunks of ``chunk`` steps, then ``smalls`` chunks of ``small`` (a quarter chunk) for the rest."""
    small = max(chunk // 4, 1)
    whole = count // chunk
    return whole, small, -(-(count - whole * chunk) // small)


def on_valid_rows(fn, params, mask, arrays, chunk: int, count=None):
    """``fn(params, *rows)`` on the steps of ``arrays`` (each ``[T, B, ...]``) where ``mask [T, B]``
    is set, ``chunk`` steps at a time, and zeros elsewhere: a per-step computation that does no
    work on padding. ``fn`` maps ``[k, ...]`` inputs to ``[k, ...]`` outputs for any ``k``.

    The valid steps are gathered first (in time-major order) and cut into chunks; one loop runs
    over the whole chunks among the first ``count`` of them (default: all valid steps), a second
    over the rest in chunks a quarter as long, so that at most ``chunk / 4 - 1`` padded steps are
    computed. Under a ``vmap`` over seeds, pass the same ``count`` to every seed
    (``lica.trim.update_trimmed`` sets ``Batch.valid_steps`` so): the loops then stop at the
    same chunk for all. Gradients flow to ``params`` and to ``arrays`` (``_chunks``).
    """
    rows, order, loops = _valid_rows(mask, arrays, chunk, count)
    whole, rest = (_chunks(fn, size, params, rows, start, needed) for size, start, needed in loops)
    return _scatter(whole + rest, order, mask)


def value_and_grad_on_valid_rows(fn, row_loss, params, mask, arrays, extras, chunk: int, count=None):
    """``on_valid_rows(fn, ...)``'s outputs ``y`` with the sum over the valid steps of
    ``row_loss(y, *extras) [k]`` (``extras`` each ``[T, B, ...]``, like ``arrays``) and its
    gradient in ``params``: ``(loss, y, grads)``. Chunk by chunk, each chunk's forward and
    backward pass once (differentiating ``on_valid_rows`` runs each chunk's forward pass twice).
    ``row_loss`` must be 0 on the zero rows that fill the last chunk (a weight of 0 there)."""
    rows, order, loops = _valid_rows(mask, list(arrays) + list(extras), chunk, count)
    inputs, extras = rows[:len(arrays)], rows[len(arrays):]
    out = jax.eval_shape(fn, params, *_chunk(inputs, 0, chunk))
    carry = (jnp.zeros((inputs[0].shape[0],) + out.shape[1:], out.dtype), jnp.zeros(()),
             jax.tree.map(jnp.zeros_like, params))
    for size, start, needed in loops:
        def body(i, carry, size=size, start=start):
            ys, loss, grads = carry
            at = start + i * size
            y, vjp = jax.vjp(lambda p: fn(p, *_chunk(inputs, at, size)), params)
            terms, d_y = jax.value_and_grad(lambda y: jnp.sum(row_loss(y, *_chunk(extras, at, size))))(y)
            return (jax.lax.dynamic_update_slice_in_dim(ys, y, at, 0), loss + terms,
                    jax.tree.map(jnp.add, grads, vjp(d_y)[0]))

        carry = jax.lax.fori_loop(0, needed, body, carry)
    ys, loss, grads = carry
    return loss, _scatter(ys, order, mask), grads


def _valid_rows(mask, arrays, chunk: int, count):
    """The valid steps of ``arrays`` gathered first (zero rows after them), their order, and the
    two loops that cover them: ``(chunk size, first row, chunks)``, ``chunks_for``'s cut."""
    flat = mask.reshape(-1) > 0
    n = flat.shape[0]
    valid = jnp.sum(flat)
    whole, small, smalls = chunks_for(jnp.minimum(valid if count is None else count, n), chunk)
    padded = -(-n // chunk) * chunk + small  # room for the last small chunk after the whole ones
    order = jnp.argsort(~flat, stable=True)  # valid steps first
    order = jnp.where(jnp.arange(n) < valid, order, n)  # n: no step (read as zeros, never written)
    order = jnp.pad(order, (0, padded - n), constant_values=n)
    rows = [x.reshape((n,) + x.shape[mask.ndim:]).at[order].get(mode="fill", fill_value=0) for x in arrays]
    return rows, order, [(chunk, 0, whole), (small, whole * chunk, smalls)]


def _scatter(ys, order, mask):
    """Gathered rows ``ys`` back to their steps ``[T, B, ...]``, zeros elsewhere."""
    n = mask.size
    return jnp.zeros((n,) + ys.shape[1:], ys.dtype).at[order].set(ys, mode="drop").reshape(mask.shape + ys.shape[1:])


def value_and_row_grad(fn):
    """``fn(params, *rows, x) -> [k]``, each row's value computed from that row alone, turned into
    ``(params, *rows, x) -> [k, 1 + D]``: each value beside its gradient with respect to its row
    of ``x [k, D]``. One forward and one backward pass: rows being independent, a cotangent of
    ones gives every row its own gradient. ``linearized`` puts the two back together."""
    def value_and_grad(params, *rows):
        *others, x = rows
        values, vjp = jax.vjp(lambda x: fn(params, *others, x), x)
        return jnp.concatenate([values[..., None], vjp(jnp.ones_like(values))[0]], axis=-1)
    return value_and_grad


def linearized(value_and_grad, x):
    """The values of ``value_and_row_grad``'s ``[..., 1 + D]`` output, with ``x [..., D]`` (the
    input they were computed at) as the way their gradient flows: exactly the values, and the
    derivative with respect to ``x`` the stored gradient."""
    value, grad = value_and_grad[..., 0], jax.lax.stop_gradient(value_and_grad[..., 1:])
    return value + jnp.sum(grad * (x - jax.lax.stop_gradient(x)), axis=-1)


def _chunk(arrays, start, chunk):
    return [jax.lax.dynamic_slice_in_dim(x, start, chunk) for x in arrays]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _chunks(fn, chunk, params, rows, start, needed):
    """``fn(params, *rows)`` on ``needed`` chunks of ``rows`` from row ``start`` on, zeros
    elsewhere.

    A loop of data-dependent length has no reverse-mode derivative of its own, so this gives
    it one: the backward pass runs the same chunks again, each ``fn``'s forward then backward
    (a rematerialization), summing the cotangents of ``params``. Differentiating a ``scan``
    that skips chunks with a ``cond`` instead stored every chunk's residuals, skipped ones
    included: for LICA's critic on smac:2s3z, W1 at every step and the hypernetwork's weight
    at every chunk, zero-filled, then written and read (docs/results.md, Throughput).
    """
    out = jax.eval_shape(fn, params, *_chunk(rows, 0, chunk))
    ys = jnp.zeros((rows[0].shape[0],) + out.shape[1:], out.dtype)

    def body(i, ys):
        at = start + i * chunk
        return jax.lax.dynamic_update_slice_in_dim(ys, fn(params, *_chunk(rows, at, chunk)), at, 0)

    return jax.lax.fori_loop(0, needed, body, ys)


def _chunks_forward(fn, chunk, params, rows, start, needed):
    return _chunks(fn, chunk, params, rows, start, needed), (params, rows, start, needed)


def _chunks_backward(fn, chunk, residuals, cotangent):
    params, rows, start, needed = residuals

    def body(i, grads):
        d_params, d_rows = grads
        at = start + i * chunk
        _, vjp = jax.vjp(fn, params, *_chunk(rows, at, chunk))
        d_chunk_params, *d_chunk = vjp(jax.lax.dynamic_slice_in_dim(cotangent, at, chunk))
        d_rows = [jax.lax.dynamic_update_slice_in_dim(d, c, at, 0) for d, c in zip(d_rows, d_chunk)]
        return jax.tree.map(jnp.add, d_params, d_chunk_params), d_rows

    zeros = jax.tree.map(jnp.zeros_like, (params, rows))
    d_params, d_rows = jax.lax.fori_loop(0, needed, body, zeros)
    return d_params, d_rows, None, None


_chunks.defvjp(_chunks_forward, _chunks_backward)
