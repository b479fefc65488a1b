"""codegen/blas_calls.py: in-place Gemm / Gemv steps of the driver, through the native entry
and through its fallbacks, against the numpy formula."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from symgraph.codegen import blas_entry
from symgraph.codegen.program import LLVMProgram
from symgraph.fgraph import FunctionGraph
from symgraph.ops.gemm import Gemm, Gemv
from symgraph.types import TensorType

DTYPES = ["float32", "float64"]


def _program(op, dtype, ranks) -> LLVMProgram:
    """A program of one in-place step writing into its input z."""
    z, x, y = (TensorType(dtype, (None,) * r)(n) for n, r in zip("zxy", ranks))
    alpha, beta = (TensorType(dtype, ())(n) for n in ("alpha", "beta"))
    node = op.make_node(z, alpha, x, y, beta)
    return LLVMProgram(FunctionGraph([z, alpha, x, y, beta], node.outputs, clone=False))


def _layouts(a: np.ndarray) -> dict:
    padded = np.zeros((a.shape[0], a.shape[1] + 2), a.dtype)
    padded[:, : a.shape[1]] = a
    spread = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    spread[:, ::2] = a
    return {
        "c": a.copy(),
        "f": np.asfortranarray(a),
        "t": np.ascontiguousarray(a.T).T,
        "rows": padded[:, : a.shape[1]],
        "strided (fallback)": spread[:, ::2],
    }


def _tol(dtype) -> float:
    return 1e-5 if dtype == "float32" else 1e-12


@pytest.fixture(params=["entry", "ctypes"])
def path(request, monkeypatch):
    """Each test runs with the native entry, and with the entry unavailable."""
    if request.param == "ctypes":
        monkeypatch.setattr(blas_entry, "entry", lambda kind, dtype: None)
    elif blas_entry.entry("gemm", "float32") is None:
        pytest.skip("no native BLAS entry here")
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_gemm_matches_numpy_for_every_layout(dtype, path):
    program = _program(Gemm(inplace=True), dtype, (2, 2, 2))
    assert ("_E" in program.source) == (path == "entry")  # the driver calls the entry itself
    rng = np.random.default_rng(0)
    x0, y0 = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    z0 = rng.standard_normal((4, 3)).astype(dtype)
    alpha, beta = np.asarray(-0.5, dtype), np.asarray(0.75, dtype)
    for (lx, x), (ly, y), (lz, z) in zip(
        *[_layouts(v).items() for v in (x0, y0)], list(_layouts(z0).items())[::-1]
    ):
        want = 0.75 * z.astype("float64") - 0.5 * (x.astype("float64") @ y)
        (out,) = program([z, alpha, x, y, beta])
        np.testing.assert_allclose(
            out, want, rtol=_tol(dtype), atol=_tol(dtype), err_msg=f"{lx} {ly} {lz}"
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_gemv_matches_numpy(dtype, path):
    program = _program(Gemv(inplace=True), dtype, (1, 2, 1))
    rng = np.random.default_rng(1)
    a0 = rng.standard_normal((4, 6)).astype(dtype)
    for name, a in _layouts(a0).items():
        x = rng.standard_normal(12).astype(dtype)[::2]
        z = rng.standard_normal(4).astype(dtype)
        want = 2.0 * z.astype("float64") + 1.5 * (a.astype("float64") @ x)
        (out,) = program([z, np.asarray(1.5, dtype), a, x, np.asarray(2.0, dtype)])
        np.testing.assert_allclose(out, want, rtol=_tol(dtype), atol=_tol(dtype), err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan_in_z(dtype, path):
    for op, ranks, x, y, z in [
        (Gemm(inplace=True), (2, 2, 2), np.ones((3, 2)), np.ones((2, 4)), np.empty((3, 4))),
        (Gemv(inplace=True), (1, 2, 1), np.ones((3, 2)), np.ones(2), np.empty(3)),
    ]:
        z = np.full(z.shape, np.nan, dtype)
        zero, two = np.asarray(0.0, dtype), np.asarray(2.0, dtype)
        (out,) = _program(op, dtype, ranks)([z, two, x.astype(dtype), y.astype(dtype), zero])
        np.testing.assert_array_equal(out, 4.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_z_overlapping_x_gives_the_reference_result(dtype, path):
    program = _program(Gemm(inplace=True), dtype, (2, 2, 2))
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3, 3)).astype(dtype)
    y = rng.standard_normal((3, 3)).astype(dtype)
    want = 0.5 * z.astype("float64") + 2.0 * (z.astype("float64") @ y)
    one_half, two = np.asarray(0.5, dtype), np.asarray(2.0, dtype)
    (out,) = program([z, two, z, y, one_half])  # x is z itself
    np.testing.assert_allclose(out, want, rtol=_tol(dtype), atol=_tol(dtype))


def test_other_dtypes_and_shapes_get_the_reference_error(path):
    program = _program(Gemm(inplace=True), "float64", (2, 2, 2))
    one = np.asarray(1.0)
    with pytest.raises(ValueError):
        program([np.ones((2, 2)), one, np.ones((2, 3)), np.ones((2, 2)), one])
    # float32 operands in a float64 step: not the entry's dtype, so the general path
    z = np.ones((2, 2))
    (out,) = program([z, one, np.ones((2, 2), "float32"), np.ones((2, 2)), one])
    np.testing.assert_array_equal(out, 3.0)


def test_a_read_only_z_goes_to_a_buffer(path):
    program = _program(Gemm(inplace=True), "float64", (2, 2, 2))
    z = np.ones((2, 2))
    z.flags.writeable = False
    one = np.asarray(1.0)
    (out,) = program([z, one, np.eye(2), np.full((2, 2), 3.0), one])
    np.testing.assert_array_equal(out, 4.0)
    np.testing.assert_array_equal(z, 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_step_that_keeps_z_leaves_it_untouched(dtype, path):
    rng = np.random.default_rng(4)
    gemm = _program(Gemm(inplace=False), dtype, (2, 2, 2))
    gemv = _program(Gemv(inplace=False), dtype, (1, 2, 1))
    x, y = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    alpha, beta = np.asarray(2.0, dtype), np.asarray(-0.5, dtype)
    for name, z in _layouts(rng.standard_normal((4, 3)).astype(dtype)).items():
        before = z.copy()
        for _ in range(2):  # the second call reuses the step's buffer
            (out,) = gemm([z, alpha, x, y, beta])
            np.testing.assert_allclose(
                out, -0.5 * before + 2.0 * (x @ y), rtol=_tol(dtype), atol=_tol(dtype), err_msg=name
            )
            (out,) = gemv([z[:, 0], alpha, x, y[:, 0], beta])
            np.testing.assert_allclose(
                out,
                -0.5 * before[:, 0] + 2.0 * (x @ y[:, 0]),
                rtol=_tol(dtype),
                atol=_tol(dtype),
                err_msg=name,
            )
        np.testing.assert_array_equal(z, before, err_msg=name)
    nan = np.full((4, 3), np.nan, dtype)
    (out,) = gemm([nan, alpha, x, y, np.asarray(0.0, dtype)])
    np.testing.assert_allclose(out, 2.0 * (x @ y), rtol=_tol(dtype), atol=_tol(dtype))
    with pytest.raises(ValueError):
        gemm([z[:3], alpha, x, y, beta])


def _dot_program(dtype, ranks) -> LLVMProgram:
    from symgraph.ops.blas import Dot

    x, y = (TensorType(dtype, (None,) * r)(n) for n, r in zip("xy", ranks))
    node = Dot().make_node(x, y)
    return LLVMProgram(FunctionGraph([x, y], node.outputs, clone=False))


def _operands(shape, dtype, rng) -> dict:
    """A vector as itself and strided; a matrix in _layouts' layouts."""
    base = rng.standard_normal(shape).astype(dtype)
    if len(shape) == 2:
        return _layouts(base)
    spread = np.zeros(2 * shape[0], dtype)
    spread[::2] = base
    return {"c": base, "strided": spread[::2]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ranks", [(2, 2), (2, 1), (1, 2), (1, 1)])
def test_dot_matches_numpy_for_every_rank_and_layout(dtype, ranks, path, monkeypatch):
    """Dot runs on the Gemm / Gemv entries (beta 0: the reused buffer's old values are never
    read), and on np.dot where they do not take the operands."""
    rng = np.random.default_rng(5)
    taken = []  # the entry's codes: 0 where it computed the product
    if path == "entry":
        real = blas_entry.entry

        def counting(kind, dtype):
            found = real(kind, dtype)
            return lambda *args: taken.append(found(*args)) or taken[-1]

        monkeypatch.setattr(blas_entry, "entry", counting)
    program = _dot_program(dtype, ranks)
    shapes = {(2, 2): ((4, 5), (5, 3)), (2, 1): ((4, 5), (5,)), (1, 2): ((5,), (5, 3)),
              (1, 1): ((5,), (5,))}[ranks]
    xs, ys = (_operands(s, dtype, rng) for s in shapes)
    for (lx, x), (ly, y) in itertools.product(xs.items(), ys.items()):
        want = x.astype("float64") @ y.astype("float64")
        for _ in range(2):  # the second call reuses the buffer the first one wrote
            (out,) = program([x, y])
            assert out.shape == want.shape and out.dtype == dtype
            np.testing.assert_allclose(out, want, rtol=_tol(dtype), atol=_tol(dtype),
                                       err_msg=f"{lx} {ly}")
        if path == "entry" and "strided" not in lx + ly:
            assert taken.pop() == 0, f"{lx} {ly}: the entry did not take these operands"
    empty = [np.ones(s[:-1] + (0,) if i == 0 else (0,) + s[1:], dtype)
             for i, s in enumerate(shapes)]
    (out,) = program(empty)  # an empty inner dimension: zeros (BLAS would leave the buffer)
    np.testing.assert_array_equal(out, np.zeros(want.shape))
    with pytest.raises(ValueError):
        program([xs["c"], np.ones((7,) + shapes[1][1:], dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_dot_matches_numpy_large_small_and_broadcast(dtype, path, monkeypatch):
    """Large products run one Gemm entry call per batch element (all of a function's products
    in one library), small ones and a broadcast batch numpy's matmul."""
    from symgraph.codegen import blas_calls
    from symgraph.ops.blas import BatchedDot

    taken = []
    if path == "entry":
        real = blas_entry.entry
        monkeypatch.setattr(
            blas_entry, "entry",
            lambda kind, dt: (lambda *args: taken.append(real(kind, dt)(*args)) or taken[-1]))
    rng = np.random.default_rng(6)

    def program(x_batch=None):
        x = TensorType(dtype, (x_batch, None, None))("x")
        y = TensorType(dtype, (None, None, None))("y")
        node = BatchedDot().make_node(x, y)
        return LLVMProgram(FunctionGraph([x, y], node.outputs, clone=False))

    side = round(blas_calls.BATCH_LOOP_MIN ** (1 / 3))  # m * k * n at the threshold
    big = rng.standard_normal((3, side, side)).astype(dtype)
    other = rng.standard_normal((3, side, side)).astype(dtype)
    f = program()
    for name, y in {"c": other, "t": np.ascontiguousarray(other.transpose(0, 2, 1)).transpose(
            0, 2, 1), "strided": np.repeat(other, 2, axis=2)[:, :, ::2]}.items():
        del taken[:]
        for _ in range(2):  # the second call reuses the buffer
            (out,) = f([big, y])
            np.testing.assert_allclose(out, np.matmul(big.astype("float64"), y), err_msg=name,
                                       rtol=_tol(dtype) * side, atol=_tol(dtype) * side)
        if path == "entry":  # the entry refuses the strided matrices: numpy's product then
            assert taken == ([1] * 6 if name == "strided" else [0] * 6), name
    del taken[:]
    small = rng.standard_normal((4, 3, 5)).astype(dtype)
    (out,) = f([small, small.transpose(0, 2, 1)])
    np.testing.assert_allclose(out, np.matmul(small, small.transpose(0, 2, 1)),
                               rtol=_tol(dtype), atol=_tol(dtype))
    assert taken == []
    (out,) = program(x_batch=True)([big[:1], other])  # a batch of 1 broadcast against 3
    np.testing.assert_allclose(out, np.matmul(big[:1].astype("float64"), other),
                               rtol=_tol(dtype) * side, atol=_tol(dtype) * side)
    with pytest.raises(ValueError):
        f([big, other[:2]])


def test_a_matrix_product_kept_by_the_caller_is_never_overwritten():
    """The driver's own Dot line writes the step's buffer, or its spare while the caller holds
    the last result; new shapes get new buffers."""
    import symgraph as sg
    import symgraph.tensor as T

    x = T.fmatrix("x")
    w = sg.shared(np.arange(12, dtype="float32").reshape(4, 3))
    f = sg.function([x], T.dot(x, w))
    rng = np.random.default_rng(6)
    inputs = [rng.standard_normal((n, 4)).astype("float32") for n in (5, 5, 5, 2, 5)]
    kept = [f(a) for a in inputs]
    for a, out in zip(inputs, kept):
        np.testing.assert_allclose(out, a @ w.get_value(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="Dot"):
        f(np.ones((5, 6), "float32"))
