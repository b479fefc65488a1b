"""Philox4x32-10 counter-based random numbers: the one stream layout every backend reproduces.

Philox4x32-R is from Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11), as
in Random123. One round maps counter (c0, c1, c2, c3) and key (k0, k1), all uint32, to::

    p0 = 0xD2511F53 * c0  (64-bit product)      p1 = 0xCD9E8D57 * c2
    (hi(p1) ^ c1 ^ k0,  lo(p1),  hi(p0) ^ c3 ^ k1,  lo(p0))

Before every round except the first the key is bumped: k0 += 0x9E3779B9, k1 += 0xBB67AE85
(mod 2^32). Ten rounds, nine bumps.

Stream layout (normative: the C, LLVM and CUDA kernels must match it bit for bit)
--------------------------------------------------------------------------------
State: ``key`` = (k0, k1) uint32 (from :func:`seed_to_key`), ``base`` uint64, and a ``stream``
id uint32 (default 0). Block ``j`` of a draw is ``Philox4x32-10(ctr_j, key)`` with::

    ctr_j = (lo32(base + j), hi32(base + j), stream, 0)        base + j taken mod 2^64

and the draw's word stream is ``W[t] = block(t // 4)[t % 4]`` for t = 0, 1, 2, ...
A draw that reads T words returns ``new_base = base + ceil(T / 4)`` (mod 2^64), so the next
draw starts on a fresh block. Element i (C order over ``shape``) reads fixed words of W that
depend only on i, so one GPU thread per element (or per block) can compute it alone:

- ``random_bits``: element i = W[i]. T = n.
- ``uniform`` float32: u = (W[i] >> 8) * 2^-24 (exact in float32). T = n.
- ``uniform`` float64: u = ((W[2i] >> 5) * 2^26 + (W[2i+1] >> 6)) * 2^-53. T = 2n.
  Then, in the output dtype with each operation rounded separately (no FMA contraction:
  CUDA ``__fmul_rn``/``__fadd_rn`` or ``-fmad=false``)::

      r = low + (high - low) * u;   if r >= high: r = nextafter(high, -inf)

- ``normal``: pair m = i // 2 reads block m whole: with w = W[4m .. 4m+3],
  u1 = ((w0 >> 5) * 2^26 + (w1 >> 6) + 1) * 2^-53 and u2 likewise from (w2, w3), both in (0, 1]
  so log never sees 0. In float64 for both dtypes: rad = sqrt(-2 log(u1)),
  theta = 6.283185307179586 * u2, z = rad * cos(theta) for even i, rad * sin(theta) for odd i;
  value = mean + std * z in float64, then rounded to the dtype. T = 4 * ceil(n / 2).
  (log/cos/sin come from each platform's libm, so float64 normals may differ by an ulp.)
- ``binomial(n, p)``: trial t of element i reads W[i*n + t]; it succeeds iff
  W * 2^-32 < p (float64 compare). value = number of successes. T = n * size; n <= 64.
- ``integers(low, high)``: d = high - low in [1, 2^32]; element i = low + ((W[i] * d) >> 32)
  with a 64-bit product (Lemire's multiply-shift, no rejection: bias <= d / 2^32). T = n.
- ``permutation(n)``: key K[i] = W[2i] * 2^32 + W[2i+1] (uint64); result = stable ascending
  argsort of K (ties keep the lower index first). T = 2n.
- ``choice(a, replace=True)``: indices as ``integers(0, len(a))``. With ``p``: c = cumsum(p)
  left to right in float64, x = u * c[-1] with u the float64 uniform above, index = number of
  k with c[k] <= x, clamped to the last k with p[k] > 0. Without replacement (no ``p``): the
  first ``size`` entries of ``permutation(len(a))``.

Every function returns ``(values, new_base)`` with ``new_base`` a Python int.
"""

from __future__ import annotations

import math

import numpy as np

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_MASK64 = (1 << 64) - 1
MAX_BINOMIAL_N = 64  # binomial sums n Bernoulli words per element; larger n needs a real sampler
_TWO_PI = 6.283185307179586


def philox4x32(counter, key, rounds: int = 10) -> np.ndarray:
    """Philox4x32-``rounds`` of uint32 ``counter`` (..., 4) under ``key`` (2,) or (..., 2).

    Examples
    --------
    >>> philox4x32(np.zeros(4, np.uint32), np.zeros(2, np.uint32))[0] == 0x6627E8D5
    np.True_
    """
    c = np.asarray(counter, dtype=np.uint32)
    k = np.asarray(key, dtype=np.uint32)
    if c.shape[-1:] != (4,) or k.shape[-1:] != (2,):
        raise ValueError(
            f"philox4x32: counter must be (..., 4) and key (..., 2); got {c.shape} and {k.shape}"
        )
    c0, c1, c2, c3 = (c[..., j].astype(np.uint64) for j in range(4))
    k0, k1 = k[..., 0].astype(np.uint64), k[..., 1].astype(np.uint64)
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _W0) & _MASK32, (k1 + _W1) & _MASK32
        p0, p1 = _M0 * c0, _M1 * c2  # < 2^64: exact in uint64
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK32
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack(np.broadcast_arrays(c0, c1, c2, c3), axis=-1).astype(np.uint32)


def _splitmix64(x: int) -> int:
    """One splitmix64 output for state ``x`` (Steele, Lea & Flood 2014)."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def seed_to_key(seed: int) -> np.ndarray:
    """Philox key (uint32 (2,)) from a non-negative int seed.

    The seed is cut into 64-bit chunks (low first, at least one); ``h = 0``, then for each chunk
    ``h = splitmix64(h ^ chunk)`` twice; key = (lo32(h), hi32(h)). Seeds 0, 1, 2 give unrelated
    keys. Host-side only: kernels receive the key.
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed_to_key: seed must be a non-negative int, got {seed}")
    h = 0
    while True:
        h = _splitmix64(_splitmix64(h ^ (seed & _MASK64)))
        seed >>= 64
        if not seed:
            break
    return np.array([h & 0xFFFFFFFF, h >> 32], dtype=np.uint32)


def _key(key) -> np.ndarray:
    k = np.asarray(key)
    if k.shape != (2,):
        raise ValueError(f"philox: key must have shape (2,), got {k.shape}")
    return k.astype(np.uint32)


def _words(key, base, nwords: int, stream: int) -> tuple[np.ndarray, int]:
    """Words W[0 .. nwords-1] of the stream at (key, base, stream), and the next base."""
    base = int(base) & _MASK64
    nblocks = -(-nwords // 4)
    ctr64 = np.uint64(base) + np.arange(nblocks, dtype=np.uint64)  # wraps mod 2^64
    ctr = np.zeros((nblocks, 4), dtype=np.uint32)
    ctr[:, 0] = ctr64 & _MASK32
    ctr[:, 1] = ctr64 >> _SHIFT32
    ctr[:, 2] = np.uint32(stream)
    words = philox4x32(ctr, _key(key)).reshape(-1)[:nwords]
    return words, (base + nblocks) & _MASK64


def _size(shape) -> tuple[tuple[int, ...], int]:
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"philox: negative dimension in shape {shape}")
    return shape, math.prod(shape)


def _float_dtype(dtype, fn: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise NotImplementedError(f"{fn}: dtype {dt} is not supported (float32 or float64)")
    return dt


def _unit53(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """53-bit integer (as float64) from two words: (a >> 5) * 2^26 + (b >> 6)."""
    return (a >> 5).astype(np.float64) * 67108864.0 + (b >> 6).astype(np.float64)


def _affine(u: np.ndarray, low, high, dt: np.dtype) -> np.ndarray:
    """low + (high - low) * u in ``dt``, pulled below ``high`` when rounding reaches it."""
    low, high = np.asarray(low, dt), np.asarray(high, dt)
    if np.any(~(low < high)):
        raise ValueError(f"uniform: need low < high, got low={low} high={high}")
    r = low + (high - low) * u
    return np.where(r >= high, np.nextafter(high, dt.type(-np.inf)), r).astype(dt)


def random_bits(key, base, n: int, *, stream: int = 0) -> tuple[np.ndarray, int]:
    """``n`` raw uint32 words W[0 .. n-1] and the next base."""
    return _words(key, base, int(n), stream)


def uniform(key, base, shape, low=0.0, high=1.0, dtype="float64", *, stream: int = 0):
    """Uniform floats in [low, high) of ``shape``; returns (values, new_base)."""
    shape, n = _size(shape)
    dt = _float_dtype(dtype, "uniform")
    if dt == np.float32:
        w, new_base = _words(key, base, n, stream)
        u = (w >> 8).astype(np.float32) * np.float32(2.0**-24)
    else:
        w, new_base = _words(key, base, 2 * n, stream)
        u = _unit53(w[0::2], w[1::2]) * 2.0**-53
    return _affine(u, low, high, dt).reshape(shape), new_base


def normal(key, base, shape, mean=0.0, std=1.0, dtype="float64", *, stream: int = 0):
    """Normal floats by Box-Muller (pairs share one block); returns (values, new_base)."""
    shape, n = _size(shape)
    dt = _float_dtype(dtype, "normal")
    if np.any(np.asarray(std) < 0):
        raise ValueError(f"normal: std must be >= 0, got {std}")
    npairs = -(-n // 2)
    w, new_base = _words(key, base, 4 * npairs, stream)
    w = w.reshape(npairs, 4)
    u1 = (_unit53(w[:, 0], w[:, 1]) + 1.0) * 2.0**-53  # (0, 1]: log(u1) is finite
    u2 = (_unit53(w[:, 2], w[:, 3]) + 1.0) * 2.0**-53
    rad, theta = np.sqrt(-2.0 * np.log(u1)), _TWO_PI * u2
    z = np.stack([rad * np.cos(theta), rad * np.sin(theta)], axis=1).reshape(-1)[:n]
    values = np.asarray(mean, np.float64) + np.asarray(std, np.float64) * z.reshape(shape)
    return values.astype(dt), new_base


def binomial(key, base, shape, n=1, p=0.5, dtype="int64", *, stream: int = 0):
    """Binomial(n, p) counts as sums of ``n`` Bernoulli words; returns (values, new_base)."""
    shape, size = _size(shape)
    n = int(n)
    if n < 0:
        raise ValueError(f"binomial: n must be >= 0, got {n}")
    if n > MAX_BINOMIAL_N:
        raise NotImplementedError(
            f"binomial: n={n} > {MAX_BINOMIAL_N} is not supported; this "
            "generator sums n Bernoulli draws and has no sampler for large n"
        )
    p = np.asarray(p, np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"binomial: p must be in [0, 1], got {p}")
    w, new_base = _words(key, base, size * n, stream)
    u = w.reshape(*shape, n).astype(np.float64) * 2.0**-32
    counts = np.sum(u < p[..., None], axis=-1) if n else np.zeros(shape, np.int64)
    return np.broadcast_to(counts, shape).astype(dtype), new_base


def integers(key, base, shape, low, high, dtype="int64", *, stream: int = 0):
    """Integers in [low, high) by 64-bit multiply-shift; returns (values, new_base)."""
    shape, n = _size(shape)
    low, high, dt = int(low), int(high), np.dtype(dtype)
    d = high - low
    if d < 1:
        raise ValueError(f"integers: need low < high, got low={low} high={high}")
    if d > 1 << 32:
        raise NotImplementedError(f"integers: range high-low={d} > 2**32 is not supported")
    info = np.iinfo(dt)
    if low < info.min or high - 1 > info.max:
        raise ValueError(f"integers: [{low}, {high}) does not fit dtype {dt}")
    w, new_base = _words(key, base, n, stream)
    offset = (w.astype(np.uint64) * np.uint64(d)) >> _SHIFT32  # d <= 2^32: no overflow
    return (offset.astype(np.int64) + low).astype(dt).reshape(shape), new_base


def permutation(key, base, n: int, *, stream: int = 0) -> tuple[np.ndarray, int]:
    """A permutation of range(n) (int64): stable argsort of 64-bit random keys."""
    n = int(n)
    w, new_base = _words(key, base, 2 * n, stream)
    keys = (w[0::2].astype(np.uint64) << _SHIFT32) | w[1::2].astype(np.uint64)
    return np.argsort(keys, kind="stable").astype(np.int64), new_base


def choice(key, base, shape, a, replace: bool = True, p=None, *, stream: int = 0):
    """Samples of ``a`` (an int m means range(m)); returns (values, new_base)."""
    shape, size = _size(shape)
    pool = np.arange(int(a)) if np.ndim(a) == 0 else np.asarray(a)
    if pool.ndim != 1:
        raise ValueError(f"choice: a must be an int or 1-d, got shape {pool.shape}")
    m = len(pool)
    if m == 0 and size:
        raise ValueError("choice: cannot take a non-empty sample from an empty a")
    if not replace:
        if p is not None:
            raise NotImplementedError("choice: replace=False with p is not supported")
        if size > m:
            raise ValueError(f"choice: cannot take {size} samples from {m} without replacement")
        perm, new_base = permutation(key, base, m, stream=stream)
        return pool[perm[:size]].reshape(shape), new_base
    if p is None:
        idx, new_base = integers(key, base, size, 0, max(m, 1), stream=stream)
        return pool[idx].reshape(shape), new_base
    p = np.asarray(p, np.float64)
    if p.shape != (m,) or np.any(p < 0) or not abs(p.sum() - 1.0) <= 1e-6:
        raise ValueError(f"choice: p must be {m} non-negative probabilities summing to 1, got {p}")
    cdf = np.cumsum(p)
    w, new_base = _words(key, base, 2 * size, stream)
    x = _unit53(w[0::2], w[1::2]) * 2.0**-53 * cdf[-1]
    idx = np.minimum(np.searchsorted(cdf, x, side="right"), np.flatnonzero(p)[-1])
    return pool[idx].reshape(shape), new_base
