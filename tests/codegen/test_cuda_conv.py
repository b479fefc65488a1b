"""conv2d, its gradients and max pooling on the cuda backend (codegen/cuda/steps_conv.py),
against the python reference: on the emulated GPU (test_cuda_emulator.py) and on a real one
(the `cuda` mark)."""

from __future__ import annotations

import numpy as np
import pytest
import test_cuda
from test_cuda import CU, PY, both, close
from test_cuda_emulator import emulated_gpu  # noqa: F401 (a fixture)

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops.conv_grad import conv2d_grad_wrt_inputs, conv2d_grad_wrt_weights
from symgraph.tensor.signal.pool import pool_2d

gpu = test_cuda.gpu  # the fixture: the emulated GPU, and the real one under the `cuda` mark

CONV_CASES = [
    dict(border_mode="valid"),
    dict(border_mode="full", filter_flip=False),
    dict(border_mode="half", subsample=(2, 1)),
    dict(border_mode=((1, 2), (0, 1)), subsample=(2, 3), filter_dilation=(2, 1)),
    dict(border_mode=1, num_groups=2, filter_dilation=(1, 2)),
]


def _conv_graph(dtype: str, kw: dict, xshape=(2, 4, 7, 8), wshape=(6, 4, 3, 2)):
    """Inputs, outputs (forward, both gradients through sg.grad and the explicit gradient
    functions) and values."""
    rng = np.random.default_rng(7)
    g = kw.get("num_groups", 1)
    wshape = (wshape[0], wshape[1] // g, *wshape[2:])
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w, **kw)
    r = T.tensor4("r", dtype=dtype)
    gx, gw = sg.grad(T.sum(y * r), [x, w])
    xv = rng.standard_normal(xshape).astype(dtype)
    wv = rng.standard_normal(wshape).astype(dtype)
    yshape = sg.function([x, w], y.shape, mode=PY)(xv, wv)
    rv = rng.standard_normal(tuple(yshape)).astype(dtype)
    params = {k: v for k, v in kw.items() if k != "num_groups"}
    explicit = [conv2d_grad_wrt_inputs(r, w, x.shape, num_groups=g, **params),
                conv2d_grad_wrt_weights(x, r, w.shape, num_groups=g, **params)]
    return [x, w, r], [y, gx, gw, *explicit], [xv, wv, rv]


@pytest.mark.parametrize("kw", CONV_CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_conv2d_and_its_gradients_run_on_the_device(gpu, kw):
    inputs, outputs, values = _conv_graph("float32", kw)
    got, ref, f = both(inputs, outputs, values)
    close(got, ref, rtol=2e-5, atol=2e-5)
    assert f.program.host_nodes == []
    assert f.program.last_copies["host-op"] == 0


def test_conv2d_in_float64_and_a_strided_input(gpu):
    inputs, outputs, values = _conv_graph("float64", dict(border_mode="half"))
    close(*both(inputs, outputs, values)[:2], rtol=1e-12, atol=1e-12)
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = T.nnet.conv2d(x.dimshuffle(0, 1, 3, 2), w, subsample=(1, 2))  # a transposed view
    xv = np.random.default_rng(8).standard_normal((2, 3, 9, 10))
    wv = np.random.default_rng(9).standard_normal((4, 3, 2, 3))
    got, ref, f = both([x, w], [y, sg.grad(T.sum(y ** 2), w)], [xv, wv])
    close(got, ref, rtol=1e-12, atol=1e-12)
    assert f.program.host_nodes == []


def test_conv2d_shape_errors_are_the_reference_errors(gpu):
    x, w = T.ftensor4("x"), T.ftensor4("w")
    f = sg.function([x, w], T.nnet.conv2d(x, w), mode=CU)
    with pytest.raises(ValueError, match="channels"):
        f(np.zeros((1, 2, 5, 5), "float32"), np.zeros((3, 4, 2, 2), "float32"))
    with pytest.raises(ValueError, match="do not fit"):
        f(np.zeros((1, 2, 5, 5), "float32"), np.zeros((3, 2, 6, 2), "float32"))


POOL_CASES = [
    dict(ws=(2, 2), ignore_border=True),
    dict(ws=(2, 2), ignore_border=False),
    dict(ws=(3, 2), stride=(1, 2), ignore_border=True),
    dict(ws=(3, 3), stride=(2, 2), pad=(1, 2), ignore_border=True),
]


@pytest.mark.parametrize("kw", POOL_CASES, ids=lambda kw: "-".join(map(str, kw.values())))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pooling_and_its_gradient_run_on_the_device(gpu, kw, dtype):
    rng = np.random.default_rng(10)
    x = T.TensorType(dtype, (None, None, None, None))("x")
    z = pool_2d(x, **kw)
    r = T.TensorType(dtype, (None, None, None, None))("r")
    gx = sg.grad(T.sum(z * r), x)
    # small integers: windows with ties (each tied pixel gets the whole gradient), a NaN and
    # an -inf; odd sizes: partial windows
    xv = rng.integers(-3, 3, (2, 3, 7, 9)).astype(dtype)
    xv[0, 0, 0, 0], xv[1, 2, 3, 4] = np.nan, -np.inf
    zshape = tuple(sg.function([x], z.shape, mode=PY)(xv))
    rv = rng.standard_normal(zshape).astype(dtype)
    got, ref, f = both([x, r], [z, gx], [xv, rv])
    close(got, ref, rtol=1e-6, atol=1e-6)
    assert f.program.host_nodes == []


def test_pool_cases_without_a_lowering_run_on_the_host_and_say_why(gpu):
    x = T.ftensor4("x")
    xv = np.random.default_rng(11).random((1, 2, 4, 4)).astype("float32")
    got, ref, f = both([x], [pool_2d(x, ws=(2, 2), ignore_border=True, mode="sum")], [xv])
    close(got, ref)
    assert len(f.program.host_nodes) == 1
    assert "pool mode 'sum': no CUDA lowering" in f.program.describe()


# --- the convnet training step of benchmarks/impl/convnet_step.py, small -------------------


def _convnet(mode, steps: int, batch: int = 3):
    """conv 3x3 -> ReLU -> maxpool 2 -> conv 3x3 -> ReLU -> maxpool 2 -> dense, softmax
    cross-entropy, SGD with momentum (the benchmark's graph at a smaller size)."""
    rng = np.random.default_rng(12)
    shapes = [(4, 1, 3, 3), (4,), (6, 4, 3, 3), (6,), (6 * 2 * 2, 3), (3,)]
    params = [sg.shared((rng.standard_normal(s) * 0.3).astype("float32"), name=f"p{k}")
              for k, s in enumerate(shapes)]
    vels = [sg.shared(np.zeros_like(p.get_value())) for p in params]
    x, y = T.tensor4("x", dtype="float32"), T.ivector("y")
    w1, b1, w2, b2, w3, b3 = params

    def layer(a, w, b):
        c = T.nnet.conv2d(a, w, border_mode="valid") + b.dimshuffle("x", 0, "x", "x")
        return pool_2d(T.nnet.relu(c), ws=(2, 2), ignore_border=True)

    a2 = layer(layer(x, w1, b1), w2, b2)
    cost = T.mean(T.nnet.categorical_crossentropy(
        T.nnet.softmax(T.dot(a2.flatten(2), w3) + b3), y))
    updates = []
    for p, v, g in zip(params, vels, sg.grad(cost, params)):
        nv = np.float32(0.9) * v - np.float32(0.1) * g
        updates += [(v, nv), (p, p + nv)]
    f = sg.function([x, y], cost, updates=updates, mode=mode)
    xv = rng.random((batch, 1, 14, 14), dtype=np.float32)
    yv = rng.integers(0, 3, batch).astype("int32")
    costs = [float(f(xv, yv)) for _ in range(steps)]
    return costs, params, f, (xv, yv)


def test_convnet_training_step_runs_on_the_device_and_moves_no_parameter(gpu):
    from symgraph.codegen.cuda.storage import DeviceArray

    ref_costs, ref_params, _, _ = _convnet(PY, 3)
    costs, params, f, (xv, yv) = _convnet(CU, 3)
    np.testing.assert_allclose(costs, ref_costs, rtol=1e-4)
    assert costs[-1] < costs[0]  # it trains
    for p, r in zip(params, ref_params):
        assert isinstance(p.container.value, DeviceArray)
        np.testing.assert_allclose(p.get_value(), r.get_value(), rtol=1e-4, atol=1e-5)
    # no step on the host (shape arithmetic aside), no parameter over the bus
    assert f.program.host_nodes == [], f.program.describe()
    emu = getattr(gpu.cuda, "_emulator", None)
    before, counts = gpu.total_copies("shared"), dict(emu.counts if emu else {})
    f(xv, yv)
    assert gpu.total_copies("shared") == before
    copies = f.program.last_copies
    assert copies["shared"] == 0 and copies["host-op"] == 0 and copies["input"] == 2
    if emu is not None:  # and, after the first steps, nothing allocated
        assert emu.counts["allocate"] == counts["allocate"]
