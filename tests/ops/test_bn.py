"""Batch normalization (T.nnet.bn) against numpy: train and test forms, gradients, errors."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.tensor.nnet import bn
from symgraph.types import TensorType

rng = np.random.default_rng(0)
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def _axes(axes, ndim):
    return {"per-activation": (0,), "spatial": (0,) + tuple(range(2, ndim))}.get(axes, axes)


def _param_shape(shape, axes, full):
    if full:
        return tuple(1 if a in axes else s for a, s in enumerate(shape))
    return tuple(s for a, s in enumerate(shape) if a not in axes)


def _expand(p, shape, axes, full):
    return p if full else p.reshape(_param_shape(shape, axes, True))


def ref_train(x, gamma, beta, axes, eps, full, factor=0.1, rmean=None, rvar=None):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    g, b = (_expand(p, x.shape, axes, full) for p in (gamma, beta))
    out = (x - mean) * g * invstd + b
    squeeze = (lambda v: v) if full else (lambda v: v.squeeze(axis=axes))
    res = [out, squeeze(mean), squeeze(invstd)]
    if rmean is not None:
        m = x.size / mean.size
        res.append(rmean * (1 - factor) + squeeze(mean) * factor)
        res.append(rvar * (1 - factor) + (m / (m - 1)) * squeeze(var) * factor)
    return [r.astype(x.dtype) for r in res]


CASES = [  # (input shape, axes, parameters with the inputs' ndim?)
    ((6, 4), "per-activation", False),
    ((6, 4), "per-activation", True),
    ((4, 3, 2, 5), "spatial", False),
    ((4, 3, 2, 5), "spatial", True),
    ((4, 3, 5), (0, 2), False),
    ((5, 2, 3), (0, 1), True),
]


# Each case compiles on every backend, so the layouts are shared out between the tests:
# the train-form values see two of them, its gradient test two others.
DTYPE_CASES = [(*c, "float64") for c in CASES] + [(*CASES[2], "float32")]
TRAIN_CASES = [(*CASES[0], "float64"), (*CASES[3], "float32")]


@pytest.mark.parametrize("shape,axes,full,dtype", TRAIN_CASES)
def test_batch_normalization_train(shape, axes, full, dtype):
    ax = _axes(axes, len(shape))
    pshape = _param_shape(shape, ax, full)
    x = rng.standard_normal(shape).astype(dtype) * 3 + 1
    gamma, beta = (rng.standard_normal(pshape).astype(dtype) for _ in range(2))
    rmean, rvar = rng.standard_normal(pshape).astype(dtype), rng.random(pshape).astype(dtype)

    def build(x, g, b, rm, rv):
        return list(bn.batch_normalization_train(x, g, b, axes, 1e-4, 0.3, rm, rv))

    check_op(
        build,
        [x, gamma, beta, rmean, rvar],
        lambda *v: ref_train(*v[:3], ax, 1e-4, full, 0.3, *v[3:]),
        **TOL[dtype],
    )
    outs = bn.batch_normalization_train(T.as_tensor_variable(x), gamma, beta, axes)
    assert len(outs) == 3 and all(o.dtype == dtype for o in outs)


@pytest.mark.parametrize("shape,axes,full,n_outputs", [(*CASES[1], 3), (*CASES[4], 1)])
def test_batch_normalization_train_gradient(shape, axes, full, n_outputs):
    ax = _axes(axes, len(shape))
    pshape = _param_shape(shape, ax, full)
    x = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(pshape), rng.standard_normal(pshape)

    def outputs(x, g, b):
        # with 3 outputs, gradients also flow through the returned statistics
        return list(bn.batch_normalization_train(x, g, b, axes))[:n_outputs]

    check_op(
        outputs,
        [x, gamma, beta],
        lambda *v: ref_train(*v, ax, 1e-4, full)[:n_outputs],
        grad=True,
        broadcastable=False,
    )


@pytest.mark.parametrize("shape,axes,full,dtype", DTYPE_CASES)
def test_batch_normalization_test(shape, axes, full, dtype):
    ax = _axes(axes, len(shape))
    pshape = _param_shape(shape, ax, full)
    x = rng.standard_normal(shape).astype(dtype)
    gamma, beta, mean = (rng.standard_normal(pshape).astype(dtype) for _ in range(3))
    var = rng.random(pshape).astype(dtype) + 0.5

    def ref(x, g, b, m, v):
        g, b, m, v = (_expand(p, shape, ax, full) for p in (g, b, m, v))
        return ((x - m) * g / np.sqrt(v + 1e-3) + b).astype(dtype)

    check_op(
        lambda *v: bn.batch_normalization_test(*v, axes=axes, epsilon=1e-3),
        [x, gamma, beta, mean, var],
        ref,
        grad=shape == (4, 3, 2, 5) and full,  # one 4-d case: the graph is plain Elemwise
        broadcastable=False,
        **TOL[dtype],
    )


@pytest.mark.parametrize("mode", ["low_mem", "high_mem"])
def test_batch_normalization(mode):
    x = rng.standard_normal((5, 3))
    gamma, beta, mean = (rng.standard_normal((1, 3)) for _ in range(3))
    std = rng.random((1, 3)) + 0.5
    check_op(
        lambda *v: bn.batch_normalization(*v, mode=mode),
        [x, gamma, beta, mean, std],
        lambda x, g, b, m, s: (x - m) / s * g + b,
        grad=mode == "low_mem",
        rtol=1e-12,
    )


def test_running_statistics_as_updates():
    """The usual training-loop use: new running statistics as shared-variable updates."""
    x = T.dmatrix("x")
    gamma, beta = sg.shared(np.ones(3)), sg.shared(np.zeros(3))
    rmean, rvar = sg.shared(np.zeros(3)), sg.shared(np.ones(3))
    out, _, _, new_mean, new_var = bn.batch_normalization_train(
        x, gamma, beta, running_mean=rmean, running_var=rvar
    )
    step = sg.function([x], out, updates=[(rmean, new_mean), (rvar, new_var)])
    xv = rng.standard_normal((8, 3))
    step(xv)
    np.testing.assert_allclose(rmean.get_value(), 0.1 * xv.mean(0))
    np.testing.assert_allclose(rvar.get_value(), 0.9 + 0.1 * xv.var(0, ddof=1))


def test_errors():
    x = T.dmatrix("acts")
    v = T.dvector("v")
    with pytest.raises(ValueError, match=r"gamma .*1 dimensions|beta .*2 dimensions"):
        bn.batch_normalization_train(x, v, T.dmatrix("b"))
    with pytest.raises(ValueError, match="both be given"):
        bn.batch_normalization_train(x, v, v, running_mean=v)
    with pytest.raises(ValueError, match="epsilon must be at least 1e-5"):
        bn.batch_normalization_train(x, v, v, epsilon=1e-6)
    with pytest.raises(ValueError, match="axes"):
        bn.batch_normalization_test(x, v, v, v, v, axes="channels")
    with pytest.raises(ValueError, match="axes"):
        bn.batch_normalization_train(x, v, v, axes=(2,))
    with pytest.raises(TypeError, match=r"inputs .*acts.* float"):
        bn.batch_normalization_train(T.imatrix("acts"), v, v)
    with pytest.raises(ValueError, match="mode"):
        bn.batch_normalization(x, x, x, x, x, mode="fast")
    with pytest.raises(ValueError, match=r"std .*test_bn.py"):
        bn.batch_normalization(x, x, x, x, T.dvector("std"))


def test_full_ndim_parameters_must_be_size_one_on_axes():
    x = T.dmatrix("x")
    g = TensorType("float64", (None, None))("g")
    out = bn.batch_normalization_test(x, g, g, g, g)
    f = sg.function([x, g], out)
    with pytest.raises(AssertionError, match="shape"):
        f(np.ones((4, 3)), np.ones((4, 3)))
    assert f(np.ones((4, 3)), np.ones((1, 3))).shape == (4, 3)
