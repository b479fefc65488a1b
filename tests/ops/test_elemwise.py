"""Elementwise ops against numpy on every backend, with gradients by finite differences."""

import numpy as np
import pytest
import scipy.special as sps
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops.scalar import SCALAR_OPS

rng = np.random.default_rng(0)


def _pos(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _unit(*shape):
    return rng.uniform(-0.9, 0.9, size=shape)


def _any(*shape):
    return rng.uniform(-2.0, 2.0, size=shape)


def _big(*shape):
    return rng.uniform(1.5, 3.0, size=shape)


# name -> (symgraph function, numpy reference, input sampler, differentiable)
UNARY = {
    "neg": (T.neg, np.negative, _any, True),
    "abs": (T.abs, np.abs, _any, True),
    "sgn": (T.sgn, np.sign, _any, False),
    "sqr": (T.sqr, np.square, _any, True),
    "sqrt": (T.sqrt, np.sqrt, _pos, True),
    "exp": (T.exp, np.exp, _any, True),
    "exp2": (T.exp2, np.exp2, _any, True),
    "expm1": (T.expm1, np.expm1, _any, True),
    "log": (T.log, np.log, _pos, True),
    "log2": (T.log2, np.log2, _pos, True),
    "log10": (T.log10, np.log10, _pos, True),
    "log1p": (T.log1p, np.log1p, _pos, True),
    "sin": (T.sin, np.sin, _any, True),
    "cos": (T.cos, np.cos, _any, True),
    "tan": (T.tan, np.tan, _unit, True),
    "arcsin": (T.arcsin, np.arcsin, _unit, True),
    "arccos": (T.arccos, np.arccos, _unit, True),
    "arctan": (T.arctan, np.arctan, _any, True),
    "sinh": (T.sinh, np.sinh, _any, True),
    "cosh": (T.cosh, np.cosh, _any, True),
    "tanh": (T.tanh, np.tanh, _any, True),
    "arcsinh": (T.arcsinh, np.arcsinh, _any, True),
    "arccosh": (T.arccosh, np.arccosh, _big, True),
    "arctanh": (T.arctanh, np.arctanh, _unit, True),
    "floor": (T.floor, np.floor, _any, False),
    "ceil": (T.ceil, np.ceil, _any, False),
    "trunc": (T.trunc, np.trunc, _any, False),
    "erf": (T.erf, sps.erf, _any, True),
    "erfc": (T.erfc, sps.erfc, _any, True),
    "erfinv": (T.erfinv, sps.erfinv, _unit, True),
    "erfcinv": (T.erfcinv, sps.erfcinv, lambda *shape: _unit(*shape) + 1, True),
    "gammaln": (T.gammaln, sps.gammaln, _pos, True),
    "psi": (T.psi, sps.digamma, _pos, True),
    "sigmoid": (T.sigmoid, sps.expit, _any, True),
    "softplus": (T.softplus, lambda x: np.logaddexp(0, x), _any, True),
    "identity": (T.identity, lambda x: x, _any, True),
}

BINARY = {
    "add": (T.add, np.add, _any, _any, True),
    "sub": (T.sub, np.subtract, _any, _any, True),
    "mul": (T.mul, np.multiply, _any, _any, True),
    "true_div": (T.true_div, np.true_divide, _any, _pos, True),
    "pow": (T.pow, np.power, _pos, _any, True),
    "maximum": (T.maximum, np.maximum, _any, _any, True),
    "minimum": (T.minimum, np.minimum, _any, _any, True),
    "arctan2": (T.arctan2, np.arctan2, _any, _pos, True),
    "mod": (T.mod, np.mod, _pos, _big, True),
    "int_div": (T.int_div, np.floor_divide, _any, _pos, False),
    "lt": (T.lt, np.less, _any, _any, False),
    "gt": (T.gt, np.greater, _any, _any, False),
    "le": (T.le, np.less_equal, _any, _any, False),
    "ge": (T.ge, np.greater_equal, _any, _any, False),
    "eq": (T.eq, np.equal, _any, _any, False),
    "neq": (T.neq, np.not_equal, _any, _any, False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary(name, dtype):
    fn, ref, sample, differentiable = UNARY[name]
    x = sample(3, 4).astype(dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-7
    check_op(
        fn,
        [x],
        lambda a: ref(a).astype(dtype),
        rtol=rtol,
        atol=1e-6,
        grad=differentiable and dtype == "float64",
    )


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_with_broadcasting(name):
    fn, ref, sample_a, sample_b, differentiable = BINARY[name]
    a, b = sample_a(3, 4), sample_b(1, 4)
    check_op(fn, [a, b], ref, grad=differentiable)


def test_every_scalar_op_is_tested_here_or_elsewhere():
    covered = set(UNARY) | set(BINARY)
    covered |= {
        "switch",
        "clip",
        "second",
        "isnan",
        "isinf",
        "and_",
        "or_",
        "xor",
        "invert",
        "round_half_to_even",
        "round_half_away_from_zero",
        "tri_gamma",
        "real",
        "imag",
        "conj",
    }
    covered |= {n for n in SCALAR_OPS if n.startswith("cast_")}
    assert set(SCALAR_OPS) <= covered, sorted(set(SCALAR_OPS) - covered)


def test_switch_clip_and_logic():
    a, b = _any(5), _any(5)
    check_op(
        lambda x, y: T.switch(T.gt(x, y), x, y * 2),
        [a, b],
        lambda x, y: np.where(x > y, x, y * 2),
        grad=True,
    )
    check_op(lambda x: T.clip(x, -0.5, 0.5), [a], lambda x: np.clip(x, -0.5, 0.5), grad=True)
    bools = [rng.random(6) > 0.5, rng.random(6) > 0.5]
    for fn, ref in [(T.and_, np.logical_and), (T.or_, np.logical_or), (T.xor, np.logical_xor)]:
        check_op(fn, bools, ref)
    check_op(T.invert, bools[:1], np.logical_not)
    ints = [rng.integers(-5, 5, 6).astype("int32"), rng.integers(-5, 5, 6).astype("int32")]
    check_op(T.and_, ints, np.bitwise_and)


def test_nan_and_inf_predicates():
    x = np.array([0.0, np.nan, np.inf, -np.inf, 1.0])
    check_op(T.isnan, [x], np.isnan)
    check_op(T.isinf, [x], np.isinf)


def test_rounding_modes():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994])
    check_op(lambda v: T.round(v, "half_to_even"), [x], np.round)
    check_op(lambda v: T.round(v), [x], lambda v: np.array([-3, -2, -1, 1, 2, 3, 0.0]))


def test_casts_and_dtype_rules():
    xi = T.bvector("xi")
    assert T.exp(xi).dtype == "float32"  # Theano's upgrade_to_float: int8 fits float32
    assert T.exp(T.ivector()).dtype == "float64"
    assert (T.fvector() * 2.0).dtype == "float32"  # 2.0 fits float32 exactly
    assert (T.fvector() * 0.1).dtype == "float64"  # 0.1 does not: Theano upcasts
    assert (T.ivector() / T.ivector()).dtype == "float64"
    assert (T.ivector() // T.ivector()).dtype == "int32"
    assert T.lt(T.fvector(), 1).dtype == "bool"
    x = rng.normal(size=5) * 100
    check_op(lambda v: T.cast(v, "int32"), [x], lambda v: v.astype("int32"))
    check_op(lambda v: v.astype("float32"), [x], lambda v: v.astype("float32"), rtol=1e-6)
    v = T.dvector("v")
    g = sg.grad(T.sum(T.cast(v, "float32") * 2), v)
    assert g.dtype == "float64"
    np.testing.assert_array_equal(g.eval({v: x}), np.full(5, 2.0))


def test_int_ops_match_numpy():
    a = rng.integers(-20, 20, 8).astype("int64")
    b = rng.integers(1, 7, 8).astype("int64")
    check_op(T.mod, [a, b], np.mod)
    check_op(T.int_div, [a, b], np.floor_divide)
    check_op(lambda x, y: x * y + 3, [a, b], lambda x, y: x * y + 3)


def test_static_broadcast_clash_raises_at_build_time():
    a = T.tensor("float64", shape=(3, 4), name="a")
    b = T.tensor("float64", shape=(5, 4), name="b")
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 4\)"):
        a + b


def test_runtime_broadcast_mismatch_names_op_and_shapes():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = sg.function([x, y], x + y, mode=sg.Mode(backend="python"))
    with pytest.raises(ValueError, match=r"(?s)\(3, 4\).*\(2, 4\).*test_elemwise.py"):
        f(np.ones((3, 4)), np.ones((2, 4)))


def test_runtime_broadcast_of_non_broadcastable_dim_is_refused():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = sg.function([x, y], x * y)
    with pytest.raises(ValueError, match="broadcastable"):
        f(np.ones((3, 4)), np.ones((1, 4)))


def test_second_derivatives():
    x = T.dvector("x")
    y = T.sum(T.tanh(x) * T.exp(x))
    g = sg.grad(y, x)
    hvp = sg.grad(T.sum(g), x)
    v = rng.normal(size=4)
    f = sg.function([x], hvp)
    t, e = np.tanh(v), np.exp(v)
    dt = 1 - t**2
    expected = (-2 * t * dt) * e + 2 * dt * e + t * e
    np.testing.assert_allclose(f(v), expected, rtol=1e-10)


def test_dimshuffle_forms_and_grad():
    x = rng.normal(size=(2, 1, 3))
    check_op(lambda v: v.dimshuffle(2, "x", 0), [x], lambda v: v[:, 0, :].T[:, None, :], grad=True)
    check_op(lambda v: v.dimshuffle("x", 0, 1, 2), [x], lambda v: v[None], grad=True)
    check_op(lambda v: v.T, [rng.normal(size=(3, 4))], lambda v: v.T, grad=True)
    with pytest.raises(ValueError, match="not known to be 1"):
        T.dmatrix("m").dimshuffle(0)
