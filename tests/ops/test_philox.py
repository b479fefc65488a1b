"""Tests for symgraph/ops/philox.py: known answers, the documented stream layout, statistics."""

import math

import numpy as np
import pytest

from symgraph.ops import philox as P

M32 = 0xFFFFFFFF
PI_CTR = [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344]
PI_KEY = [0xA4093822, 0x299F31D0]
FF_CTR, FF_KEY = [M32] * 4, [M32] * 2

# Random123 tests/kat_vectors, "philox4x32 R": counter[4] key[2] -> output[4]
KAT = [
    (10, [0] * 4, [0] * 2, [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (10, FF_CTR, FF_KEY, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (10, PI_CTR, PI_KEY, [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    (7, [0] * 4, [0] * 2, [0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48]),
    (7, FF_CTR, FF_KEY, [0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662]),
    (7, PI_CTR, PI_KEY, [0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A]),
]

KEY = P.seed_to_key(1234)


def scalar_philox(ctr, key, rounds=10):
    """Philox4x32 on Python ints, one block: the reference for the vectorized version."""
    c, k = list(ctr), list(key)
    for r in range(rounds):
        if r:
            k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
    return c


def layout_words(key, base, nwords, stream=0):
    """W[t] exactly as the module docstring specifies, one scalar block at a time."""
    out = []
    for j in range(-(-nwords // 4)):
        b = (base + j) % 2**64
        out += scalar_philox([b & M32, b >> 32, stream, 0], [int(x) for x in key])
    return out[:nwords]


def u53(a, b):
    return ((a >> 5) * 2**26 + (b >> 6)) * 2.0**-53


# --- the block function ---------------------------------------------------------------------


@pytest.mark.parametrize("rounds, ctr, key, expected", KAT)
def test_known_answers(rounds, ctr, key, expected):
    out = P.philox4x32(np.array(ctr, np.uint32), np.array(key, np.uint32), rounds=rounds)
    assert out.dtype == np.uint32
    assert [int(x) for x in out] == expected


def test_vectorized_matches_scalar_and_broadcasts_keys():
    rng = np.random.default_rng(0)
    ctr = rng.integers(0, 2**32, size=(3, 5, 4), dtype=np.uint32)
    keys = rng.integers(0, 2**32, size=(3, 5, 2), dtype=np.uint32)
    out = P.philox4x32(ctr, keys)
    one_key = P.philox4x32(ctr, keys[0, 0])
    assert out.shape == one_key.shape == (3, 5, 4)
    for i in range(3):
        for j in range(5):
            c = [int(x) for x in ctr[i, j]]
            assert [int(x) for x in out[i, j]] == scalar_philox(c, [int(x) for x in keys[i, j]])
            assert [int(x) for x in one_key[i, j]] == scalar_philox(c, [int(x) for x in keys[0, 0]])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="counter"):
        P.philox4x32(np.zeros(3, np.uint32), np.zeros(2, np.uint32))
    with pytest.raises(ValueError, match="key"):
        P.random_bits(np.zeros(3, np.uint32), 0, 4)


# --- the stream layout (what C / LLVM / CUDA kernels must reproduce) -------------------------


@pytest.mark.parametrize("base", [0, 7, 2**32 - 2, 2**64 - 3])
@pytest.mark.parametrize("stream", [0, 5])
def test_random_bits_layout(base, stream):
    bits, new_base = P.random_bits(KEY, base, 13, stream=stream)
    assert bits.dtype == np.uint32
    assert [int(x) for x in bits] == layout_words(KEY, base, 13, stream)
    assert new_base == (base + 4) % 2**64


def test_distribution_layouts():
    base = 2**33 + 5
    w = layout_words(KEY, base, 64)
    u32, b = P.uniform(KEY, base, 5, dtype="float32")
    assert b == base + 2
    assert u32.tolist() == [(w[i] >> 8) * 2.0**-24 for i in range(5)]
    u64, b = P.uniform(KEY, base, 5)
    assert b == base + 3
    assert u64.tolist() == [u53(w[2 * i], w[2 * i + 1]) for i in range(5)]
    z, b = P.normal(KEY, base, 5)
    assert b == base + 3
    for i in range(5):
        m = i // 2
        u1 = u53(w[4 * m], w[4 * m + 1]) + 2.0**-53
        u2 = u53(w[4 * m + 2], w[4 * m + 3]) + 2.0**-53
        trig = math.cos if i % 2 == 0 else math.sin
        assert z[i] == pytest.approx(math.sqrt(-2 * math.log(u1)) * trig(2 * math.pi * u2), 1e-14)
    ints, b = P.integers(KEY, base, 5, -3, 1000)
    assert b == base + 2
    assert ints.tolist() == [-3 + ((w[i] * 1003) >> 32) for i in range(5)]
    counts, b = P.binomial(KEY, base, 5, n=3, p=0.4)
    assert b == base + 4  # 15 words
    assert counts.tolist() == [
        sum(w[3 * i + t] * 2.0**-32 < 0.4 for t in range(3)) for i in range(5)
    ]
    perm, b = P.permutation(KEY, base, 6)
    assert b == base + 3
    keys = [w[2 * i] * 2**32 + w[2 * i + 1] for i in range(6)]
    assert perm.tolist() == sorted(range(6), key=lambda i: keys[i])


def test_stream_id_gives_a_different_stream():
    a, _ = P.random_bits(KEY, 0, 8, stream=0)
    b, _ = P.random_bits(KEY, 0, 8, stream=1)
    assert not np.array_equal(a, b)


# --- determinism, non-overlap, element independence ------------------------------------------

DRAWS = {
    "bits": lambda base, n: P.random_bits(KEY, base, n),
    "uniform32": lambda base, n: P.uniform(KEY, base, n, dtype="float32"),
    "uniform64": lambda base, n: P.uniform(KEY, base, n, -2.0, 3.0),
    "normal32": lambda base, n: P.normal(KEY, base, n, 1.0, 2.0, dtype="float32"),
    "normal64": lambda base, n: P.normal(KEY, base, n),
    "binomial": lambda base, n: P.binomial(KEY, base, n, n=4, p=0.3),
    "bernoulli": lambda base, n: P.binomial(KEY, base, n, p=0.5, dtype="int8"),
    "integers": lambda base, n: P.integers(KEY, base, n, 5, 17, dtype="int32"),
    "choice": lambda base, n: P.choice(KEY, base, n, 7),
    "choice_p": lambda base, n: P.choice(KEY, base, n, 4, p=[0.1, 0.2, 0.3, 0.4]),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_deterministic_and_prefix_independent_of_n(name):
    draw = DRAWS[name]
    full, _ = draw(11, 37)
    again, _ = draw(11, 37)
    np.testing.assert_array_equal(full, again)
    for k in (0, 1, 2, 3, 5, 36):
        part, _ = draw(11, k)
        np.testing.assert_array_equal(part, full[:k])


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_successive_draws_do_not_overlap(name):
    draw = DRAWS[name]
    base = 2**64 - 2  # also crosses the uint64 wrap
    _, b1 = draw(base, 9)
    blocks = (b1 - base) % 2**64
    assert blocks > 0
    first, _ = P.random_bits(KEY, base, 4 * blocks)
    after, _ = P.random_bits(KEY, b1, 4 * blocks)
    allwords, _ = P.random_bits(KEY, base, 8 * blocks)
    np.testing.assert_array_equal(np.concatenate([first, after]), allwords)
    assert len(set(allwords.tolist())) == allwords.size


def test_shapes_and_dtypes():
    u, _ = P.uniform(KEY, 0, (2, 3), dtype="float32")
    z, _ = P.normal(KEY, 0, (3, 1, 2))
    c, _ = P.binomial(KEY, 0, (4, 3), p=np.array([0.0, 0.5, 1.0]), dtype="int32")
    assert (u.shape, u.dtype) == ((2, 3), np.float32)
    assert (z.shape, z.dtype) == ((3, 1, 2), np.float64)
    assert (c.shape, c.dtype) == ((4, 3), np.int32)
    assert c[:, 0].tolist() == [0] * 4 and c[:, 2].tolist() == [1] * 4


# --- statistics and ranges ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_statistics(dtype):
    u, _ = P.uniform(KEY, 0, 10**6, dtype=dtype)
    assert u.dtype == dtype
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 2e-3
    assert abs(u.var() - 1 / 12) < 5e-4
    v, _ = P.uniform(KEY, 0, 10**5, low=-3.0, high=-1.0, dtype=dtype)
    assert v.min() >= -3.0 and v.max() < -1.0


def test_float32_uniform_never_equals_high():
    top = np.float32(1 - 2**-24)  # the largest float32 unit uniform
    r = P._affine(np.array([0.0, top], np.float32), 1.0, 2.0, np.dtype("float32"))
    assert r.dtype == np.float32 and r[0] == 1.0
    assert r[1] < 2.0 and r[1] == np.nextafter(np.float32(2), np.float32(0))
    u, _ = P.uniform(KEY, 0, 10**5, low=1.0, high=2.0, dtype="float32")
    assert u.max() < 2.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_statistics(dtype):
    z, _ = P.normal(KEY, 3, 10**6, mean=2.0, std=3.0, dtype=dtype)
    assert z.dtype == dtype and np.all(np.isfinite(z))
    assert abs(z.mean() - 2.0) < 0.015
    assert abs(z.std() - 3.0) < 0.015
    s, _ = P.normal(KEY, 3, 10**6)
    assert abs(np.mean(s**4) - 3.0) < 0.05  # kurtosis of a normal


def test_binomial_statistics():
    c, _ = P.binomial(KEY, 0, 10**5, n=10, p=0.3)
    assert c.min() >= 0 and c.max() <= 10
    assert abs(c.mean() - 3.0) < 0.03
    assert abs(c.var() - 2.1) < 0.06


def test_integers_range_and_coverage():
    x, _ = P.integers(KEY, 0, 10**5, -5, 5)
    assert x.min() == -5 and x.max() == 4
    assert np.all(np.bincount(x + 5) > 9000)
    full, _ = P.integers(KEY, 0, 1000, 0, 2**32, dtype="uint32")
    assert full.dtype == np.uint32
    np.testing.assert_array_equal(full, P.random_bits(KEY, 0, 1000)[0])  # d = 2^32: identity


def test_permutation_is_a_permutation():
    for n in (0, 1, 2, 17, 1000):
        perm, new_base = P.permutation(KEY, 9, n)
        assert sorted(perm.tolist()) == list(range(n))
        assert new_base == 9 + -(-2 * n // 4)
    assert not np.array_equal(P.permutation(KEY, 9, 50)[0], np.arange(50))


def test_choice():
    pool = np.array([10, 20, 30, 40, 50])
    s, _ = P.choice(KEY, 0, (3, 4), pool)
    assert s.shape == (3, 4) and set(s.ravel().tolist()) <= set(pool.tolist())
    s, _ = P.choice(KEY, 0, 5, pool, replace=False)
    assert sorted(s.tolist()) == pool.tolist()
    idx, _ = P.choice(KEY, 0, 10**5, 4, p=[0.1, 0.0, 0.6, 0.3])
    freq = np.bincount(idx, minlength=4) / idx.size
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.01)
    last, _ = P.choice(KEY, 0, 1000, 3, p=[0.5, 0.5, 0.0])
    assert last.max() <= 1  # the zero-probability tail is never chosen


def test_seed_to_key():
    keys = [P.seed_to_key(s) for s in (0, 1, 2, 2**64 - 1, 2**64, 2**100)]
    assert all(k.dtype == np.uint32 and k.shape == (2,) for k in keys)
    assert len({tuple(k.tolist()) for k in keys}) == len(keys)
    np.testing.assert_array_equal(P.seed_to_key(42), P.seed_to_key(42))
    bits = [int(x) for k in keys[:3] for x in k]
    assert len(set(bits)) == 6 and all(0 < b < M32 for b in bits)
    with pytest.raises(ValueError, match="non-negative"):
        P.seed_to_key(-1)


def test_unsupported_and_bad_arguments_raise():
    with pytest.raises(NotImplementedError, match="n=65"):
        P.binomial(KEY, 0, 3, n=65, p=0.5)
    with pytest.raises(NotImplementedError, match="2\\*\\*32"):
        P.integers(KEY, 0, 3, 0, 2**32 + 1)
    with pytest.raises(NotImplementedError, match="float16"):
        P.uniform(KEY, 0, 3, dtype="float16")
    with pytest.raises(NotImplementedError, match="replace=False with p"):
        P.choice(KEY, 0, 2, 3, replace=False, p=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="low < high"):
        P.uniform(KEY, 0, 3, low=1.0, high=1.0)
    with pytest.raises(ValueError, match="low < high"):
        P.integers(KEY, 0, 3, 4, 4)
    with pytest.raises(ValueError, match="does not fit"):
        P.integers(KEY, 0, 3, 0, 300, dtype="uint8")
    with pytest.raises(ValueError, match="without replacement"):
        P.choice(KEY, 0, 4, 3, replace=False)
    with pytest.raises(ValueError, match="summing to 1"):
        P.choice(KEY, 0, 4, 3, p=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        P.binomial(KEY, 0, 4, p=1.5)
