"""CUDA steps of the nnet ops (softmax family, fused cross-entropy) and of random draws.

Kernels: kernels/softmax.cu (one module per float dtype and label dtype) and kernels/philox.cu.
Softmax and LogSoftmax run on the GPU over the last axis (other axes: on the host). Labels
are checked against the number of classes on the host when the host has them (a function
input), as the op's `perform` checks them; labels computed on the GPU are clamped in range.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from symgraph.codegen.cuda.arrays import contiguous
from symgraph.codegen.cuda.compiler import compile_cuda
from symgraph.codegen.cuda.driver import BLOCK, get_driver
from symgraph.codegen.cuda.elemwise import RENDERER, VALUE_FORMAT, pointer, remember, value_param
from symgraph.codegen.cuda.steps import Step, lower
from symgraph.codegen.cuda.storage import DeviceArray, empty, take_buffer
from symgraph.graph import Apply
from symgraph.ops.nnet import (
    CrossentropyCategorical1Hot,
    CrossentropySoftmax1HotWithBiasDx,
    CrossentropySoftmaxArgmax1HotWithBias,
    LogSoftmax,
    Softmax,
    _check_labels,
)
from symgraph.ops.random import RandomVariable, _unpack

_LOCK = threading.Lock()
_FLOATS = ("float32", "float64")


# the parameters of each kernel of kernels/softmax.cu and philox.cu, as pycuda's struct
# format ("v": a by-value sg_t)
FORMATS = {"sg_softmax": "PP6q", "sg_log_softmax": "PP6q", "sg_xent_softmax_bias": "6P6q",
           "sg_xent_dx": "PvPPP6q", "sg_xent_1hot": "PPP5q"}
PHILOX_FORMAT = "PqQQQdd"


def softmax_function(dtype: str, labels: str, name: str) -> Any:
    """Kernel `name` of kernels/softmax.cu for `dtype` and `labels` (compiled once)."""
    drv = get_driver()
    key = f"softmax-{dtype}-{labels}"
    with _LOCK:
        cubin = compile_cuda(RENDERER.softmax_source(dtype, labels), drv.arch, key)
        return drv.function(key, cubin, name, FORMATS[name].replace("v", VALUE_FORMAT[dtype]))


def philox_function(name: str) -> Any:
    drv = get_driver()
    with _LOCK:
        return drv.function("philox", compile_cuda(RENDERER.philox_source(), drv.arch, "philox"),
                            name, PHILOX_FORMAT)


def _rows(x: DeviceArray) -> tuple[DeviceArray, int, int, int, int]:
    """x as (rows, cols) over its last axis: (array, rows, cols, row stride, col stride)."""
    if x.ndim == 1:
        return x, 1, x.shape[0], 0, x.elem_strides()[0]
    if x.ndim == 2:
        s0, s1 = x.elem_strides()
        return x, x.shape[0], x.shape[1], s0, s1
    x = contiguous(x)
    cols = x.shape[-1]
    return x, x.size // max(cols, 1), cols, cols, 1


class SoftmaxStep(Step):
    """Softmax / LogSoftmax over the last axis: a block per row."""

    def __init__(self, node: Apply, name: str):
        super().__init__(node)
        self.fn = softmax_function(node.outputs[0].dtype, "int64", name)
        self.buffers: list = [None, None]
        self.what = f"the output of {node.op}"

    def run(self, ctx: Any) -> list:
        x = ctx.device(0)
        out = take_buffer(self.buffers, 0, x.shape, x.dtype, self.what)
        xr, rows, cols, s0, s1 = _rows(x)
        if rows and cols:
            drv = get_driver()
            drv.launch(self.fn, rows, [xr.ptr, out.ptr, rows, cols, s0, s1, cols, 1],
                       grid=min(rows, drv.max_blocks))
        return [out]


def _last_axis(node: Apply) -> bool:
    axis, ndim = node.op.axis, node.inputs[0].ndim
    return ndim >= 1 and axis is not None and axis % ndim == ndim - 1


@lower.register(Softmax)
def _(op, node: Apply) -> Step | None:
    ok = _last_axis(node) and node.outputs[0].dtype in _FLOATS
    return SoftmaxStep(node, "sg_softmax") if ok else None


@lower.register(LogSoftmax)
def _(op, node: Apply) -> Step | None:
    ok = _last_axis(node) and node.outputs[0].dtype in _FLOATS
    return SoftmaxStep(node, "sg_log_softmax") if ok else None


def _labels(ctx: Any, node: Apply, k: int, matrix: int, shape: tuple) -> DeviceArray:
    """The labels (input k) on the device, checked on the host when the host has them."""
    host = ctx.known_host(k)
    if host is not None:
        _check_labels(node, matrix, shape, host)
    else:
        y = ctx.value(k)
        _check_labels(node, matrix, shape, np.zeros(y.shape, y.dtype))  # the length, at least
    return ctx.device(k)


class XentSoftmaxStep(Step):
    """CrossentropySoftmaxArgmax1HotWithBias: (nll, softmax, argmax) in one kernel."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.fn = softmax_function(node.outputs[1].dtype, node.inputs[2].dtype,
                                   "sg_xent_softmax_bias")
        self.buffers: list = [None] * 6
        self.plans: dict = {}

    def run(self, ctx: Any) -> list:
        node = self.node
        x, b = ctx.device(0), ctx.device(1)
        rows, cols = x.shape
        if node.inputs[1].type.shape[0] != 1 and b.shape[0] != cols:
            node.op.perform(node, [np.empty(x.shape, x.dtype), np.empty(b.shape, b.dtype),
                                   np.zeros(rows, node.inputs[2].dtype)])  # raises the error
        y = _labels(ctx, node, 2, 0, x.shape)
        key = (x.shape, x.strides, b.strides, y.strides)
        plan = self.plans.get(key)
        if plan is None:
            plan = remember(self.plans, key, (
                (min(max(rows, 1), get_driver().max_blocks), 1),
                (rows, cols, *x.elem_strides(), b.elem_strides()[0], y.elem_strides()[0])))
        grid, ints = plan
        nll = take_buffer(self.buffers, 0, (rows,), x.dtype, "the cross-entropy")
        sm = take_buffer(self.buffers, 1, (rows, cols), x.dtype, "the softmax")
        am = take_buffer(self.buffers, 2, (rows,), y.dtype, "the argmax")
        if rows:
            self.fn.prepared_async_call(grid, BLOCK, get_driver().stream, x.ptr, b.ptr, y.ptr,
                                        nll.ptr, sm.ptr, am.ptr, *ints)
        return [nll, sm, am]


class XentDxStep(Step):
    """CrossentropySoftmax1HotWithBiasDx: (sm - one_hot(y)) * dy; a host dy of one element is
    passed by value (no copy)."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.fn = softmax_function(node.outputs[0].dtype, node.inputs[2].dtype, "sg_xent_dx")
        self.buffers: list = [None, None]

    def run(self, ctx: Any) -> list:
        node = self.node
        sm = ctx.device(1)
        rows, cols = sm.shape
        dy = ctx.value(0)
        if node.inputs[0].type.shape[0] != 1 and dy.shape[0] != rows:
            node.op.perform(node, [np.empty(dy.shape, sm.dtype), np.empty(sm.shape, sm.dtype),
                                   np.zeros(rows, node.inputs[2].dtype)])  # raises the error
        y = _labels(ctx, node, 2, 1, sm.shape)
        if isinstance(dy, DeviceArray) or np.size(dy) != 1:
            dy_dev, dy_value, dys = ctx.device(0), 0, ctx.device(0).elem_strides()[0]
        else:
            dy_dev, dy_value, dys = None, np.asarray(dy).reshape(()), 0
        dx = take_buffer(self.buffers, 0, (rows, cols), sm.dtype,
                         "the gradient of the cross-entropy")
        s0, s1 = sm.elem_strides()
        get_driver().launch(self.fn, rows * cols, [
            pointer(dy_dev), value_param(dy_value, sm.dtype.name), sm.ptr, y.ptr, dx.ptr,
            rows, cols, dys, s0, s1, y.elem_strides()[0]])
        return [dx]


class Xent1HotStep(Step):
    """CrossentropyCategorical1Hot: -log(c[i, y[i]])."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.fn = softmax_function(node.outputs[0].dtype, node.inputs[1].dtype, "sg_xent_1hot")

    def run(self, ctx: Any) -> list:
        c = ctx.device(0)
        rows, cols = c.shape
        y = _labels(ctx, self.node, 1, 0, c.shape)
        nll = empty((rows,), c.dtype, "the cross-entropy")
        s0, s1 = c.elem_strides()
        get_driver().launch(self.fn, rows, [c.ptr, y.ptr, nll.ptr, rows, cols, s0, s1,
                                            y.elem_strides()[0]])
        return [nll]


def _xent_dtypes(node: Apply, labels: int) -> bool:
    floats = {v.dtype for v in node.inputs if v.dtype.startswith("float")}
    return len(floats) == 1 and floats <= set(_FLOATS) and node.inputs[labels].dtype != "bool"


@lower.register(CrossentropySoftmaxArgmax1HotWithBias)
def _(op, node: Apply) -> Step | None:
    return XentSoftmaxStep(node) if _xent_dtypes(node, 2) else None


@lower.register(CrossentropySoftmax1HotWithBiasDx)
def _(op, node: Apply) -> Step | None:
    return XentDxStep(node) if _xent_dtypes(node, 2) else None


@lower.register(CrossentropyCategorical1Hot)
def _(op, node: Apply) -> Step | None:
    return Xent1HotStep(node) if _xent_dtypes(node, 1) else None


class RandomStep(Step):
    """uniform / normal draws (float32, float64) by the Philox kernels, in the stream layout
    of ops/philox.py; the generator state stays on the host (it is tiny, and the key and the
    counter are kernel parameters)."""

    def __init__(self, node: Apply):
        super().__init__(node)
        op = node.op
        suffix = {"float32": "f32", "float64": "f64"}[op.dtype]
        self.fn = philox_function(f"sg_{op.dist}_{suffix}")

    def run(self, ctx: Any) -> list:
        node, op = self.node, self.node.op
        state = ctx.host(0)
        shape = tuple(int(s) for s in ctx.host(1))
        a, b = ctx.host(2), ctx.host(3)
        if np.size(a) != 1 or np.size(b) != 1:  # parameters per element: numpy draws them
            from symgraph.codegen.python import perform_function

            return perform_function(op)(node, [state, np.asarray(shape), a, b])
        dt = np.dtype(op.dtype)
        a, b = dt.type(np.asarray(a).item()), dt.type(np.asarray(b).item())
        if op.dist == "uniform" and not a < b:
            raise ValueError(f"uniform: need low < high, got low={a} high={b}")
        if op.dist == "normal" and b < 0:
            raise ValueError(f"normal: std must be >= 0, got {b}")
        key, base, stream = _unpack(state)
        n = int(np.prod(shape, dtype=np.int64))
        words = {"uniform": n * dt.itemsize // 4, "normal": 4 * (-(-n // 2))}[op.dist]
        out = empty(shape, dt, f"the sample of {op}")
        blocks = {"uniform": -(-n // (4 if dt.itemsize == 4 else 2)), "normal": -(-n // 2)}
        if n:
            get_driver().launch(self.fn, blocks[op.dist], [
                out.ptr, n, int(base), int(key[0]) | (int(key[1]) << 32), int(stream),
                float(a), float(b)])
        new_state = state.copy()
        new_state[3] = np.uint64((base + -(-words // 4)) % (1 << 64))
        return [new_state, out]


@lower.register(RandomVariable)
def _(op, node: Apply) -> Step | None:
    ok = op.dist in ("uniform", "normal") and op.dtype in _FLOATS
    return RandomStep(node) if ok else None

