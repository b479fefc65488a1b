"""CUDA steps of conv2d (AbstractConv2d and both gradients) and of max pooling (Pool, MaxPoolGrad).

Kernels: kernels/conv.cu (one module per float dtype). Each conv op is the CPU path's plan
(ops/conv_kernels.py, compact layout) on the device: im2col into columns (C * kh * kw, N * P),
P = oh * ow, then one cuBLAS GEMM per group over the whole batch (cuda/blas.py):

- forward: (O, K) filters @ columns -> (O, N * P), copied into NCHW (a transposing copy);
- gradInputs: filters^T @ (O, N * P) output gradient -> columns, folded back by col2im (a
  gather per pixel: no atomics, the same bits on every run);
- gradWeights: (O, N * P) output gradient @ columns^T -> the filters' gradient.

filter_flip is a choice of rows in im2col / col2im (kernels/conv.cu), so the filters are used
as stored and their gradient needs no flip. Every border mode, stride, dilation and group
count the op takes is lowered; float16 is not (the step says so, and the node runs on the
host as every op without a lowering does, counted and listed in ``program.host_nodes``).

Max pooling: any window, stride, padding and border rule, float32 / float64, one thread per
output (forward) or input (gradient) element. Other modes ('sum', the averages) and integer
inputs run on the host, likewise said and counted.

Temporaries (columns, products) are the step's own buffers, reused from one call to the next
(``take_buffer``), so a training step allocates nothing after the first.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from symgraph.codegen.cuda.arrays import contiguous, copy_into, fill
from symgraph.codegen.cuda.blas import gemm
from symgraph.codegen.cuda.compiler import compile_cuda
from symgraph.codegen.cuda.driver import get_driver
from symgraph.codegen.cuda.elemwise import RENDERER, geometry, remember
from symgraph.codegen.cuda.steps import HostStep, Step, lower
from symgraph.codegen.cuda.storage import DeviceArray, c_strides, take_buffer
from symgraph.graph import Apply
from symgraph.ops.conv import AbstractConv2d, check_runtime
from symgraph.ops.conv_grad import (
    AbstractConv2d_gradInputs,
    AbstractConv2d_gradWeights,
    _check_topgrad,
)
from symgraph.ops.pool import MaxPoolGrad, Pool

_LOCK = threading.Lock()
_FLOATS = ("float32", "float64")
CONV_FIELDS, POOL_FIELDS = 19, 11  # int64 fields of sg_conv_geom / sg_pool_geom
FORMATS = {"sg_im2col": f"PP{8 * CONV_FIELDS}s", "sg_col2im": f"PP{8 * CONV_FIELDS}s",
           "sg_maxpool": f"PP{8 * POOL_FIELDS}s", "sg_maxpool_grad": f"PPPP{8 * POOL_FIELDS}s"}


def conv_function(dtype: str, name: str) -> Any:
    """Kernel `name` of kernels/conv.cu for `dtype` (compiled once)."""
    drv = get_driver()
    key = f"conv-{dtype}"
    with _LOCK:
        cubin = compile_cuda(RENDERER.conv_source(dtype), drv.arch, key)
        return drv.function(key, cubin, name, FORMATS[name])


def _view(a: DeviceArray, rows: int, cols: int, row_stride: int, col_stride: int,
          offset: int) -> DeviceArray:
    """A 2-d view of `a` (strides and offset in elements)."""
    it = a.itemsize
    return a.view((rows, cols), (row_stride * it, col_stride * it), offset * it)


class _ConvStep(Step):
    """What the three conv steps share: kernels, buffers and the per-layout plans."""

    kernels: tuple[str, ...] = ()

    def __init__(self, node: Apply):
        super().__init__(node)
        self.op = node.op
        self.dtype = node.outputs[0].dtype
        self.fns = {name: conv_function(self.dtype, name) for name in self.kernels}
        self.buffers: dict[str, tuple[list, str]] = {}
        self.plans: dict = {}

    def buffer(self, slot: str, shape: tuple) -> DeviceArray:
        """The step's buffer `slot` (the output is slot "out"): reused while nobody holds it."""
        found = self.buffers.get(slot)
        if found is None:
            found = self.buffers[slot] = ([None, None], f"the {slot} of {self.op}")
        return take_buffer(found[0], 0, tuple(shape), self.dtype, found[1])

    def geom(self, image: tuple, strides: tuple, kh: int, kw: int, oh: int, ow: int) -> bytes:
        (pt, _), (pl, _) = self.op.pads(kh, kw)
        return geometry(image, strides, [kh, kw, oh, ow, pt, pl], self.op.subsample,
                        self.op.filter_dilation, [int(self.op.filter_flip)])

    def im2col(self, x: DeviceArray, geom: bytes, rows: int, columns: int) -> DeviceArray:
        cols = self.buffer("columns", (rows, columns))
        get_driver().launch(self.fns["sg_im2col"], cols.size, [x.ptr, cols.ptr, geom])
        return cols

    def gy_columns(self, gy: DeviceArray) -> DeviceArray:
        """The output gradient (N, O, oh, ow) as the (O, N * P) matrix of the GEMMs."""
        n, o, oh, ow = gy.shape
        ycols = self.buffer("output-gradient columns", (o, n, oh, ow))
        copy_into(gy.transpose(1, 0, 2, 3), ycols)
        return ycols


class ConvStep(_ConvStep):
    """AbstractConv2d: im2col, a GEMM per group, a transposing copy into NCHW."""

    kernels = ("sg_im2col",)

    def run(self, ctx: Any) -> list:
        x, w = ctx.device(0), contiguous(ctx.device(1))
        key = (x.shape, x.strides, w.shape)
        plan = self.plans.get(key)
        if plan is None:
            oh, ow = check_runtime(self.op, self.node, x.shape, w.shape)
            kh, kw = w.shape[2:]
            geom = self.geom(x.shape, x.elem_strides(), kh, kw, oh, ow)
            plan = remember(self.plans, key, (oh, ow, geom))
        oh, ow, geom = plan
        n, c = x.shape[:2]
        o, cg, kh, kw = w.shape
        g, k, p = self.op.num_groups, cg * kh * kw, oh * ow
        og, np_ = o // g, n * p
        cols = self.im2col(x, geom, c * kh * kw, np_)
        product = self.buffer("product", (o, np_))
        for gi in range(g):
            gemm(1.0, _view(w, og, k, k, 1, gi * og * k), _view(cols, k, np_, np_, 1, gi * k * np_),
                 0.0, _view(product, og, np_, np_, 1, gi * og * np_))
        out = self.buffer("out", (n, o, oh, ow))
        it = product.itemsize
        copy_into(product.view((n, o, oh, ow), (p * it, np_ * it, ow * it, it)), out)
        return [out]


class ConvGradInputsStep(_ConvStep):
    """AbstractConv2d_gradInputs: a GEMM per group into columns, col2im into the image."""

    kernels = ("sg_col2im",)

    def run(self, ctx: Any) -> list:
        w, gy = contiguous(ctx.device(0)), ctx.device(1)
        h, wd = int(ctx.host(2)), int(ctx.host(3))
        key = (w.shape, gy.shape, h, wd)
        plan = self.plans.get(key)
        if plan is None:
            o, _, kh, kw = w.shape
            if gy.shape[1] != o:
                raise ValueError(
                    f"conv2d_grad_wrt_inputs: the output gradient {self.node.inputs[1]} has "
                    f"shape {gy.shape} but the filters {self.node.inputs[0]} have shape "
                    f"{w.shape}")
            oh, ow = self.op.out_hw(h, wd, kh, kw)
            _check_topgrad(self.op, "conv2d_grad_wrt_inputs", gy, oh, ow, self.node)
            image = (gy.shape[0], w.shape[1] * self.op.num_groups, h, wd)
            geom = self.geom(image, [s // w.itemsize for s in c_strides(image, w.itemsize)],
                             kh, kw, oh, ow)
            plan = remember(self.plans, key, (image, geom))
        image, geom = plan
        n, c = image[:2]
        o, cg, kh, kw = w.shape
        g, k = self.op.num_groups, cg * kh * kw
        og, np_ = o // g, n * gy.shape[2] * gy.shape[3]
        ycols = self.gy_columns(gy)
        cols = self.buffer("columns", (c * kh * kw, np_))
        for gi in range(g):
            gemm(1.0, _view(w, k, og, 1, k, gi * og * k),
                 _view(ycols, og, np_, np_, 1, gi * og * np_),
                 0.0, _view(cols, k, np_, np_, 1, gi * k * np_))
        gx = self.buffer("out", image)
        get_driver().launch(self.fns["sg_col2im"], gx.size, [cols.ptr, gx.ptr, geom])
        return [gx]


class ConvGradWeightsStep(_ConvStep):
    """AbstractConv2d_gradWeights: im2col, then a GEMM per group with the columns transposed."""

    kernels = ("sg_im2col",)

    def run(self, ctx: Any) -> list:
        x, gy = ctx.device(0), ctx.device(1)
        kh, kw = int(ctx.host(2)), int(ctx.host(3))
        key = (x.shape, x.strides, gy.shape, kh, kw)
        plan = self.plans.get(key)
        g = self.op.num_groups
        if plan is None:
            n, c = x.shape[:2]
            o = gy.shape[1]
            if gy.shape[0] != n or c % g or o % g:
                raise ValueError(
                    f"conv2d_grad_wrt_weights: the input {self.node.inputs[0]} of shape "
                    f"{x.shape} and the output gradient {self.node.inputs[1]} of shape "
                    f"{gy.shape} do not match ({self.op.describe()})")
            oh, ow = self.op.out_hw(x.shape[2], x.shape[3], kh, kw)
            _check_topgrad(self.op, "conv2d_grad_wrt_weights", gy, oh, ow, self.node)
            geom = self.geom(x.shape, x.elem_strides(), kh, kw, oh, ow)
            plan = remember(self.plans, key, (oh, ow, geom))
        oh, ow, geom = plan
        n, c = x.shape[:2]
        o = gy.shape[1]
        og, cg = o // g, c // g
        k, np_ = cg * kh * kw, n * oh * ow
        cols = self.im2col(x, geom, c * kh * kw, np_)
        ycols = self.gy_columns(gy)
        dw = self.buffer("out", (o, cg, kh, kw))
        for gi in range(g):
            gemm(1.0, _view(ycols, og, np_, np_, 1, gi * og * np_),
                 _view(cols, np_, k, 1, np_, gi * k * np_),
                 0.0, _view(dw, og, k, k, 1, gi * og * k))
        return [dw]


def _conv_lowering(step: type):
    def lowering(op, node: Apply) -> Step:
        dtype = node.outputs[0].dtype
        if dtype not in _FLOATS:
            return HostStep(node, f"{type(op).__name__} in {dtype}: no CUDA lowering")
        return step(node)

    return lowering


lower.register(AbstractConv2d, _conv_lowering(ConvStep))
lower.register(AbstractConv2d_gradInputs, _conv_lowering(ConvGradInputsStep))
lower.register(AbstractConv2d_gradWeights, _conv_lowering(ConvGradWeightsStep))


# --- max pooling ---------------------------------------------------------------------------


class _PoolStep(Step):
    def __init__(self, node: Apply, name: str):
        super().__init__(node)
        self.op = node.op
        self.dtype = node.outputs[0].dtype
        self.fn = conv_function(self.dtype, name)
        self.buffers: list = [None, None]
        self.what = f"the output of {node.op}"

    def geom(self, x_shape: tuple, out_hw: tuple) -> bytes:
        planes = math.prod(x_shape[:-2])
        return geometry([planes, *x_shape[-2:], *out_hw], self.op.ws, self.op.stride,
                        self.op.pad)


class MaxPoolStep(_PoolStep):
    """Pool, mode 'max': one thread per output element, its window clipped to the image."""

    def run(self, ctx: Any) -> list:
        x = contiguous(ctx.device(0))
        out_hw = self.op.out_hw(*x.shape[-2:])
        z = take_buffer(self.buffers, 0, x.shape[:-2] + tuple(out_hw), self.dtype, self.what)
        if x.size == 0 or z.size == 0:
            fill(z, 0)  # as the reference: zeros
            return [z]
        get_driver().launch(self.fn, z.size, [x.ptr, z.ptr, self.geom(x.shape, out_hw)])
        return [z]


class MaxPoolGradStep(_PoolStep):
    """MaxPoolGrad: one thread per input element, summing over the windows that hold it."""

    def run(self, ctx: Any) -> list:
        x, z, gz = (contiguous(ctx.device(k)) for k in range(3))
        out_hw = tuple(self.op.out_hw(*x.shape[-2:]))
        pooled = x.shape[:-2] + out_hw
        if z.shape != pooled or gz.shape != pooled:
            raise ValueError(
                f"MaxPoolGrad: the pooled output {self.node.inputs[1]} (shape {z.shape}) and its "
                f"gradient {self.node.inputs[2]} (shape {gz.shape}) must have the shape "
                f"{pooled} of the input {self.node.inputs[0]} (shape {x.shape}) pooled")
        gx = take_buffer(self.buffers, 0, x.shape, self.dtype, self.what)
        if z.size == 0:
            fill(gx, 0)
            return [gx]
        get_driver().launch(self.fn, gx.size, [x.ptr, z.ptr, gz.ptr, gx.ptr,
                                               self.geom(x.shape, out_hw)])
        return [gx]


def _pool_lowering(step: type, name: str):
    def lowering(op, node: Apply) -> Step:
        dtype = node.outputs[0].dtype
        if op.mode != "max":
            return HostStep(node, f"pool mode {op.mode!r}: no CUDA lowering")
        if dtype not in _FLOATS:
            return HostStep(node, f"max pooling of {dtype}: no CUDA lowering")
        return step(node, name)

    return lowering


lower.register(Pool, _pool_lowering(MaxPoolStep, "sg_maxpool"))
lower.register(MaxPoolGrad, _pool_lowering(MaxPoolGradStep, "sg_maxpool_grad"))
