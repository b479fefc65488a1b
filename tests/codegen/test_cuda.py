"""The cuda backend against the python reference: on the emulated GPU (always, see
test_cuda_emulator.py) and on a real one (the `cuda` mark; skipped saying why without one)."""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest
from test_cuda_emulator import emulated_gpu  # noqa: F401 (a fixture)

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.config import config
from symgraph.ops import math as M
from symgraph.ops.gemm import gemm_no_inplace, gemv_no_inplace, ger
from symgraph.tensor.shared_randomstreams import RandomStreams

PY = Mode(backend="python")
CU = Mode(backend="cuda")


@pytest.fixture(params=["emulated", pytest.param("gpu", marks=pytest.mark.cuda)])
def gpu(request):
    """The GPU driver: the emulated one, or the real device (skipped when absent)."""
    if request.param == "emulated":
        return request.getfixturevalue("emulated_gpu")
    from symgraph.codegen.cuda import driver

    if importlib.util.find_spec("pycuda") is None:
        pytest.skip("pycuda not installed")
    ok, why = driver.available()
    if not ok:
        pytest.skip(f"no GPU: {why}")
    return driver.get_driver()


def both(inputs, outputs, values, **kw):
    """(cuda results, python results, the cuda function)."""
    ref = sg.function(inputs, outputs, mode=PY, **kw)(*values)
    f = sg.function(inputs, outputs, mode=CU, **kw)
    return f(*values), ref, f


def close(got, ref, rtol=2e-6, atol=1e-7):
    got, ref = (list(v) if isinstance(v, list) else [v] for v in (got, ref))
    for g, r in zip(got, ref):
        assert isinstance(g, np.ndarray) or np.isscalar(g), type(g)
        assert np.asarray(g).dtype == np.asarray(r).dtype
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol, equal_nan=True)


def test_fused_elementwise_graphs(gpu):
    rng = np.random.default_rng(0)
    x, r, s = T.fmatrix("x"), T.frow("r"), T.fscalar("s")
    xv = rng.standard_normal((33, 70)).astype("float32")
    rv, sv = rng.standard_normal((1, 70)).astype("float32"), np.float32(0.7)
    outs = [T.tanh(x * s + r) * T.nnet.sigmoid(x) + T.exp(-x * x), T.switch(x > 0, x, 0.01 * x),
            x.T * 2 + 1, M.cast(x * 10, "int8"), M.cast(x, "float16") * 3, T.maximum(x, r) % 0.5]
    close(*both([x, r, s], outs, [xv, rv, sv])[:2])
    d = T.dmatrix("d")
    dv = rng.standard_normal((5, 4))
    close(*both([d], [T.log1p(abs(d)) / (d.T.T + 3), d[::2].T * 2], [dv])[:2], rtol=1e-12)


def test_integer_and_bool_kernels(gpu):
    a, b = T.imatrix("a"), T.imatrix("b")
    av = np.arange(-12, 12, dtype="int32").reshape(4, 6)
    bv = np.array([3, -2, 0, 5, -7, 1] * 4, dtype="int32").reshape(4, 6)
    close(*both([a, b], [a // b, a % b, a * b - 7, (a > b) & (b > 0)], [av, bv])[:2])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool", "float16"])
def test_reductions_over_several_axes(gpu, dtype):
    rng = np.random.default_rng(1)
    x = T.TensorType(dtype, (None, None, None))("x")
    xv = (rng.standard_normal((6, 50, 7)) * 3).astype(dtype)
    outs = [T.sum(x, axis=2), T.max(x, axis=(0, 2)), T.min(x.T, axis=0), T.any(x),
            T.prod(x[:2, :3], axis=1), T.all(x, axis=1)]
    if dtype.startswith("float"):  # fused into the reduction (FusedReduce)
        outs += [T.sum(M.sqr(x) * 0.5 + 1, axis=1), T.max(abs(x) - 1, axis=0)]
    rtol = 2e-3 if dtype == "float16" else 2e-6
    close(*both([x], outs, [xv])[:2], rtol=rtol, atol=1e-5)


def test_max_of_an_empty_axis_raises_as_the_reference(gpu):
    x = T.fmatrix("x")
    f = sg.function([x], T.max(x, axis=0), mode=CU)
    with pytest.raises(ValueError, match="empty"):
        f(np.zeros((0, 3), "float32"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_products_and_transposed_views(gpu, dtype):
    rng = np.random.default_rng(2)
    x, y, v = (T.TensorType(dtype, s)(n) for n, s in
               [("x", (None, None)), ("y", (None, None)), ("v", (None,))])
    xv, yv, vv = (rng.standard_normal(s).astype(dtype) for s in [(9, 13), (13, 5), (13,)])
    a, b = np.asarray(0.5, dtype), np.asarray(1.5, dtype)
    z = rng.standard_normal((9, 5)).astype(dtype)
    outs = [T.dot(x, y), T.dot(y.T, x.T), T.dot(x, v), T.dot(v, y), T.dot(v, v),
            gemm_no_inplace(z, a, x, y, b), gemv_no_inplace(z[:, 0], a, x, v, b),
            ger(z, a, z[:, 1], z[0])]
    tol = 1e-5 if dtype == "float32" else 1e-12
    close(*both([x, y, v], outs, [xv, yv, vv])[:2], rtol=tol, atol=tol)


def test_softmax_log_softmax_and_fused_crossentropy(gpu):
    rng = np.random.default_rng(3)
    x, y = T.fmatrix("x"), T.ivector("y")
    xv = (rng.standard_normal((17, 10)) * 4).astype("float32")
    yv = rng.integers(0, 10, 17).astype("int32")
    nll, sm = T.nnet.crossentropy_softmax_1hot(x, y)
    loss = T.mean(nll)
    outs = [T.nnet.softmax(x), T.nnet.log_softmax(x), loss, sg.grad(loss, x),
            T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)]
    close(*both([x, y], outs, [xv, yv])[:2], rtol=1e-5, atol=1e-6)
    f = sg.function([x, y], loss, mode=CU)
    with pytest.raises(IndexError, match="out of range"):
        f(xv, np.full(17, 10, "int32"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_draws_match_the_philox_reference_bit_for_bit(gpu, dtype):
    results = []
    for mode in (PY, CU):
        srng = RandomStreams(seed=42)
        f = sg.function([], [srng.uniform((7, 9), low=-2.0, high=3.0, dtype=dtype),
                             srng.normal((5,), avg=1.0, std=2.0, dtype=dtype)], mode=mode)
        results.append([f(), f()])  # the state advances on the same counters
    for (u_py, n_py), (u_cu, n_cu) in zip(*results):
        assert u_cu.dtype == dtype and np.array_equal(u_cu, u_py)
        np.testing.assert_allclose(n_cu, n_py, rtol=1e-6)  # libm's log / cos may differ an ulp


def _mlp(mode, steps: int):
    rng = np.random.default_rng(4)
    sizes = (20, 16, 16, 5)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [sg.shared(rng.standard_normal((a, b)).astype("float32") * 0.3),
                   sg.shared(np.zeros(b, "float32"))]
    vels = [sg.shared(np.zeros_like(p.get_value())) for p in params]
    x, y = T.fmatrix("x"), T.ivector("y")
    h = x
    for k in range(3):
        h = T.dot(h, params[2 * k]) + params[2 * k + 1]
        h = T.nnet.relu(h) if k < 2 else h
    cost = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(h), y))
    updates = []
    for p, v, g in zip(params, vels, sg.grad(cost, params)):
        nv = np.float32(0.9) * v - np.float32(0.1) * g
        updates += [(v, nv), (p, p + nv)]
    f = sg.function([x, y], cost, updates=updates, mode=mode)
    xv = rng.standard_normal((8, 20)).astype("float32")
    yv = rng.integers(0, 5, 8).astype("int32")
    costs = [float(f(xv, yv)) for _ in range(steps)]
    return costs, params, f


def test_mlp_training_keeps_parameters_on_the_device(gpu):
    from symgraph.codegen.cuda.storage import DeviceArray

    ref_costs, ref_params, _ = _mlp(PY, 4)
    costs, params, f = _mlp(CU, 4)
    np.testing.assert_allclose(costs, ref_costs, rtol=1e-4)
    for p, r in zip(params, ref_params):
        assert isinstance(p.container.value, DeviceArray)  # moved once, stayed
        np.testing.assert_allclose(p.get_value(), r.get_value(), rtol=1e-4, atol=1e-6)
    before = gpu.total_copies("shared")
    f(np.zeros((8, 20), "float32"), np.zeros(8, "int32"))
    assert gpu.total_copies("shared") == before  # no parameter crossed the bus
    assert f.program.last_copies["shared"] == 0 and f.program.last_copies["input"] == 2
    assert f.program.last_copies["host-op"] == 0
    assert "shared variables on the GPU" in f.program.describe()


def test_a_training_step_allocates_nothing_and_waits_for_the_device_once(gpu):
    """The host's work per step (benchmarks/gpu/host_overhead.py times it): after the first
    call, outputs and the minibatch reuse their buffers, and the only wait is the cost's copy."""
    emu = getattr(gpu.cuda, "_emulator", None)
    if emu is None:
        pytest.skip("counts what the emulated device was asked to do")
    _, _, f = _mlp(CU, 2)
    xv, yv = np.zeros((8, 20), "float32"), np.zeros(8, "int32")
    before = dict(emu.counts)
    for _ in range(3):
        f(xv, yv)
    per_step = {k: (v - before.get(k, 0)) / 3 for k, v in emu.counts.items()}
    assert per_step.get("allocate", 0) == 0
    assert per_step["synchronize"] == 1 and per_step["dtoh"] == 1 and per_step["htod"] == 2
    assert per_step["launch"] + per_step["cublas"] <= len(f.program.steps)


def test_the_exit_clean_up_frees_device_memory_and_pops_the_context(gpu):
    """pycuda aborts a process whose context stack is not empty when it ends: at exit the
    driver frees what is still on the device (shared variables, step buffers), then pops."""
    emu = getattr(gpu.cuda, "_emulator", None)
    if emu is None:
        pytest.skip("closes the driver: on a real GPU, test_a_gpu_process_exits_cleanly")
    _, params, f = _mlp(CU, 2)  # held: shared variables and buffers still on the device
    assert emu.counts["context_depth"] == 1 and emu.in_use > 0
    gpu._close()
    assert emu.counts["context_depth"] == 0
    assert emu.in_use == 0 and emu.held == 0  # nothing left to free after the pop


@pytest.mark.cuda
def test_a_gpu_process_exits_cleanly(tmp_path):
    """A process that trains on the GPU (PyTorch imported beside it, as the benchmarks do)
    ends with status 0 and no pycuda error: the H100 run saw every such process abort."""
    from symgraph.codegen.cuda import driver

    if importlib.util.find_spec("pycuda") is None or not driver.available()[0]:
        pytest.skip("no GPU or no pycuda")
    from helpers import run_in_new_processes

    script = (
        "import importlib.util\n"
        "if importlib.util.find_spec('torch'): import torch\n"
        "import numpy as np, symgraph as sg, symgraph.tensor as T\n"
        "from symgraph.compile.mode import Mode\n"
        "w = sg.shared(np.ones((20, 3), 'float32'), name='w')\n"
        "x = T.fmatrix('x')\n"
        "cost = T.sum(T.tanh(T.dot(x, w)) ** 2)\n"
        "f = sg.function([x], cost, updates=[(w, w - np.float32(0.1) * sg.grad(cost, w))],\n"
        "                mode=Mode(backend='cuda'))\n"
        "print('cost', float(f(np.ones((4, 20), 'float32'))))\n"
    )
    out = run_in_new_processes(script, tmp_path, times=1)  # asserts status 0 (stderr shown)
    assert out[0].startswith("cost")


def test_shared_values_read_and_pickle_as_numpy(gpu):
    w = sg.shared(np.arange(6, dtype="float32").reshape(2, 3), name="w")
    f = sg.function([], [], updates=[(w, w * 2)], mode=CU)
    f()
    assert isinstance(w.get_value(), np.ndarray)
    np.testing.assert_array_equal(w.get_value(), np.arange(6).reshape(2, 3) * 2)
    loaded = pickle.loads(pickle.dumps(w))
    assert isinstance(loaded.container.value, np.ndarray)
    w.set_value(np.ones((2, 3), "float32"))  # back on the host: the next call moves it again
    f()
    np.testing.assert_array_equal(w.get_value(), np.full((2, 3), 2))


def test_ops_without_a_lowering_run_on_the_host_and_are_reported(gpu):
    x = T.fmatrix("x")
    out = T.argmax(T.exp(x), axis=1)
    got, ref, f = both([x], out, [np.random.default_rng(5).random((4, 6)).astype("float32")])
    np.testing.assert_array_equal(got, ref)
    assert f.program.host_nodes and "host" in f.program.describe()


def test_running_out_of_memory_names_the_size_and_function_and_keeps_shared(gpu):
    from symgraph.codegen.cuda.driver import DeviceOutOfMemory

    w = sg.shared(np.ones(4, "float32"), name="w")
    srng = RandomStreams(seed=1)
    huge = srng.uniform((10**7, 10**7), dtype="float32")
    f = sg.function([], T.sum(huge), updates=[(w, w * 3)], mode=CU, name="too_big")
    with pytest.raises(DeviceOutOfMemory, match=r"too_big") as info:
        f()
    assert "GiB" in str(info.value) or "TiB" in str(info.value)
    np.testing.assert_array_equal(w.get_value(), np.ones(4))


def test_outputs_can_stay_on_the_device(gpu):
    from symgraph.codegen.cuda.backend import CudaBackend
    from symgraph.codegen.cuda.storage import DeviceArray
    from symgraph.fgraph import FunctionGraph

    x = T.fvector("x")
    program = CudaBackend().compile(FunctionGraph([x], [x * 2]), device_outputs=[True])
    out = program([np.arange(3, dtype="float32")])[0]
    assert isinstance(out, DeviceArray)
    np.testing.assert_array_equal(np.asarray(out), [0, 2, 4])


def test_config_device_cuda_compiles_for_the_gpu(gpu, monkeypatch):
    from symgraph.codegen.cuda.program import CudaProgram

    monkeypatch.setattr(config, "device", "cuda")
    x = T.fvector("x")
    f = sg.function([x], x + 1)
    assert isinstance(f.program, CudaProgram)


def test_without_pycuda_one_error_says_what_to_install(monkeypatch):
    from symgraph.codegen.cuda.driver import CudaUnavailable

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pycuda" else real(name, *a))
    x = T.fvector("x")
    with pytest.raises(CudaUnavailable, match=r"pycuda.*pip install pycuda"):
        sg.function([x], x + 1, mode=CU)
