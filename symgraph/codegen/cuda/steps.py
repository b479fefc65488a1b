"""The steps of a CUDA program: one per node, found by ``lower(op, node)`` (singledispatch).

A step's ``run(ctx)`` computes its node's outputs from ``ctx``, which hands out each input
as it is (``ctx.value(k)``), on the device (``ctx.device(k)``) or on the host (``ctx.host(k)``):
the program (cuda/program.py) makes and counts the copies, so a step only says what it needs.
Steps that keep work off the GPU say why: shape arithmetic stays where the shapes are (a
shape never needs a copy), and an op with no lowering runs its numpy `perform` on the host
(``HostStep``), its copies counted and reported.

This module: elementwise (Elemwise / Composite), reductions (CAReduce, FusedReduce), views
(DimShuffle, Reshape) and shape ops (MakeVector of ints included); cuda/blas.py,
cuda/steps_nnet.py and cuda/steps_conv.py register the rest.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from symgraph.codegen.cuda.arrays import contiguous
from symgraph.codegen.cuda.elemwise import ElemwiseKernel, ReduceKernel, compiled, remember
from symgraph.codegen.cuda.storage import DeviceArray, take_buffer
from symgraph.codegen.kernel import NotLowerable, lower_careduce, lower_elemwise
from symgraph.codegen.python import perform_function
from symgraph.graph import Apply
from symgraph.ops.elemwise import DimShuffle, Elemwise, _check_runtime_broadcast
from symgraph.ops.join import MakeVector
from symgraph.ops.reduce import CAReduce
from symgraph.ops.shape import Rebroadcast, Reshape, Shape, Shape_i, SpecifyShape


class Step:
    """One node of the program; `device` says whether it runs GPU code."""

    device = True

    def __init__(self, node: Apply):
        self.node = node

    def run(self, ctx: Any) -> list:
        raise NotImplementedError


class HostStep(Step):
    """The op's numpy `perform` on host copies of its inputs (for ops with no lowering)."""

    device = False

    def __init__(self, node: Apply, why: str = "no CUDA lowering"):
        super().__init__(node)
        self.perform = perform_function(node.op)
        self.why = why

    def run(self, ctx: Any) -> list:
        values = [ctx.host(k) for k in range(len(self.node.inputs))]
        with np.errstate(all="ignore"):
            return self.perform(self.node, values)


class ShapeStep(HostStep):
    """Ops that only read shapes (Shape, Shape_i, SpecifyShape, Rebroadcast): their perform
    runs on whatever the input is, device arrays included, with no copy."""

    def run(self, ctx: Any) -> list:
        return self.perform(self.node, [ctx.value(k) for k in range(len(self.node.inputs))])


@functools.singledispatch
def lower(op, node: Apply) -> Step | None:
    """The step of `node`; None when its op has no CUDA lowering (the program runs it on the
    host)."""
    return None


for _op in (Shape, Shape_i, SpecifyShape, Rebroadcast):
    lower.register(_op, lambda op, node: ShapeStep(node, "shape arithmetic"))


class ShapeVectorStep(ShapeStep):
    """MakeVector of integers (a shape being built, as Reshape's target): on the host, where
    shapes are; an input on the device would be copied (counted as a host-op copy)."""

    def run(self, ctx: Any) -> list:
        return self.perform(self.node, [ctx.host(k) for k in range(len(self.node.inputs))])


@lower.register(MakeVector)
def _(op, node: Apply) -> Step | None:
    integer = np.dtype(op.dtype).kind in "iu"
    return ShapeVectorStep(node, "shape arithmetic") if integer else None


def output_shape(node: Apply, bcast: list[tuple[bool, ...]], shapes: list[tuple],
                 all_shapes: list[tuple]) -> tuple:
    """The output shape of an elementwise kernel (`shapes`: of its array operands) by Theano's
    rule: only axes of static size 1 broadcast; a mismatch raises the reference's error
    (`all_shapes`: of every node input)."""
    out = []
    for d in range(node.outputs[0].type.ndim):
        sizes = {s[d] for s, b in zip(shapes, bcast) if not b[d]}
        if len(sizes) > 1 or any(s[d] != 1 for s, b in zip(shapes, bcast) if b[d]):
            stubs = [np.broadcast_to(np.empty((), "int8"), s) for s in all_shapes]
            _check_runtime_broadcast(node, stubs)
            raise ValueError(f"input shapes {all_shapes} do not broadcast together")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class ElemwiseStep(Step):
    """An Elemwise (or Composite) node as one kernel; arithmetic on host scalars (shape
    arithmetic, mostly) stays on the host: a copy would cost more than the work.

    Per call, only what changes is computed: the operands' shapes and strides pick a plan
    (output shape, in place or not, the kernel's launch plan) made on the first call with that
    layout, outputs come from the step's own buffers (``take_buffer``), and the launch packs
    pointers."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.kernel_ir, self.arrays = lower_elemwise(node)
        self.kernel = compiled(self.kernel_ir, ElemwiseKernel)
        self.perform = perform_function(node.op)
        pattern = getattr(node.op, "inplace_pattern", ())
        self.inplace = pattern[0][1] if pattern and len(node.outputs) == 1 else None
        self.scalar = [o.is_scalar for o in self.kernel_ir.inputs]
        self.buffers: list = [None] * (2 * len(self.kernel_ir.outputs))
        self.plans: dict = {}
        self.results: dict = {}  # host-scalar inputs -> outputs (on_host_scalars)
        self.what = f"the output of {node.op}"

    def run(self, ctx: Any) -> list:
        vals, ins = ctx.vals, ctx.ins
        inputs, layout, host = [], [], False
        for i, scalar in zip(self.arrays, self.scalar):
            v = vals[ins[i]]
            if type(v) is not DeviceArray:
                host = True
                if not scalar:
                    v = ctx.device(i)
            inputs.append(v)
            if type(v) is DeviceArray:
                layout += (v.shape, v.strides)
            else:
                layout += (np.shape(v), None)
        key = tuple(layout)
        plan = self.plans.get(key)
        if plan is None:
            if host and not any(isinstance(v, DeviceArray) or np.ndim(v) for v in inputs):
                return self.on_host_scalars(ctx)
            plan = remember(self.plans, key, self.plan(ctx, inputs))
        shape, target, launch = plan
        if target is not None:
            outputs = [inputs[target]]
        else:
            outputs = [take_buffer(self.buffers, k, shape, o.dtype, self.what)
                       for k, o in enumerate(self.kernel_ir.outputs)]
        if launch is False:  # a layout seen first with this step's outputs: plan it now
            launch = self.kernel.plan(inputs, outputs)
            self.plans[key] = (shape, target, launch)
        self.kernel.launch(launch, inputs, outputs)
        return outputs

    def on_host_scalars(self, ctx: Any) -> list:
        """The node on host scalars (shape arithmetic, mostly): performed once per distinct
        input values, since the same shapes come back every call (a Composite's Python
        evaluation took ~50 us); copies out, as a later in-place step may write them."""
        values = [ctx.host(k) for k in range(len(self.node.inputs))]
        key = tuple((v.dtype.str, v.item()) if isinstance(v, (np.generic, np.ndarray))
                    else (type(v), v) for v in values)
        found = self.results.get(key)
        if found is None:
            with np.errstate(all="ignore"):
                found = remember(self.results, key, self.perform(self.node, values))
        return [v.copy() if isinstance(v, np.ndarray) else v for v in found]

    def plan(self, ctx: Any, inputs: list) -> tuple:
        """(output shape, position of the input written in place or None, False: the
        kernel's launch plan, made at the first launch); raises the reference's error when
        the shapes do not broadcast."""
        node, kernel = self.node, self.kernel_ir
        shape = output_shape(node, [o.bcast for o in kernel.inputs],
                             [np.shape(v) for v in inputs],
                             [np.shape(ctx.value(k)) for k in range(len(node.inputs))])
        target = None
        if self.inplace is not None and self.inplace in self.arrays:
            position = self.arrays.index(self.inplace)
            x = inputs[position]
            if (isinstance(x, DeviceArray) and x.shape == shape
                    and x.dtype == np.dtype(kernel.outputs[0].dtype)):
                target = position
        return shape, target, False


def _elemwise(op, node: Apply) -> Step | None:
    try:
        return ElemwiseStep(node)
    except NotLowerable:
        return None


lower.register(Elemwise, _elemwise)


class ReduceStep(Step):
    """A CAReduce node: one reduction kernel (no axes: an elementwise cast)."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.kernel_ir = lower_careduce(node)
        self.kernel = compiled(self.kernel_ir, ReduceKernel)
        self.perform = perform_function(node.op)
        self.buffers: list = [None, None]
        self.shapes: dict = {}
        self.what = f"the output of {node.op}"

    def run(self, ctx: Any) -> list:
        x = ctx.device(0)
        shape = self.shapes.get(x.shape)
        if shape is None:
            if self.kernel_ir.reduce_op in ("maximum", "minimum") and any(
                    x.shape[a] == 0 for a in self.kernel_ir.axes):
                self.perform(self.node, [np.empty(x.shape, x.dtype)])  # raises numpy's error
            shape = remember(self.shapes, x.shape, tuple(
                s for a, s in enumerate(x.shape) if a not in self.kernel_ir.axes))
        out = take_buffer(self.buffers, 0, shape, self.kernel_ir.outputs[0].dtype, self.what)
        self.kernel.run(x, out)
        return [out]


def _careduce(op, node: Apply) -> Step | None:
    try:
        if lower_careduce(node).kind == "elemwise":  # no axes: numpy's astype
            return _CastStep(node)
        return ReduceStep(node)
    except NotLowerable:
        return None


class _CastStep(ElemwiseStep):
    def __init__(self, node: Apply):
        Step.__init__(self, node)
        self.kernel_ir, self.arrays = lower_careduce(node), [0]
        self.kernel = compiled(self.kernel_ir, ElemwiseKernel)
        self.perform = perform_function(node.op)
        self.inplace = None
        self.scalar = [o.is_scalar for o in self.kernel_ir.inputs]
        self.buffers, self.plans = [None, None], {}
        self.what = f"the output of {node.op}"


lower.register(CAReduce, _careduce)


class FusedReduceStep(Step):
    """A FusedReduce (a Composite folded by a CAReduce): the map into a temporary, then the
    reduction (one pass each; fusing them into one kernel is left to do)."""

    def __init__(self, node: Apply):
        super().__init__(node)
        op = node.op
        self.elem = ElemwiseStep(Elemwise(op.scalar_op).make_node(*node.inputs))
        temp = self.elem.node.outputs[0]
        self.reduce = ReduceStep(op.reduce.make_node(temp))

    def run(self, ctx: Any) -> list:
        (temp,) = self.elem.run(ctx)
        return self.reduce.run(SimpleNamespace(device=lambda k: temp))


def _fused_reduce_lowering() -> None:
    try:
        from symgraph.ops.composite import FusedReduce
    except ImportError:
        return

    @lower.register(FusedReduce)
    def _(op, node: Apply) -> Step | None:
        try:
            return FusedReduceStep(node)
        except NotLowerable:
            return None


_fused_reduce_lowering()


class DimShuffleStep(Step):
    """A view: transposed strides, dropped and inserted axes of size 1 (no copy, no kernel).
    A host scalar stays a host scalar (kernels take it by value); a host array is viewed on
    the device, where its readers are (its copy is made once per call and shared)."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.op = node.op
        self.layouts: dict = {}

    def run(self, ctx: Any) -> list:
        x = ctx.vals[ctx.ins[0]]
        if type(x) is not DeviceArray:
            if np.size(x) <= 1:
                return self.perform_host(x)
            x = ctx.device(0)
        key = (x.shape, x.strides)
        layout = self.layouts.get(key)
        if layout is None:
            shape = tuple(1 if d == "x" else x.shape[d] for d in self.op.new_order)
            strides = tuple(0 if d == "x" else x.strides[d] for d in self.op.new_order)
            layout = remember(self.layouts, key, (shape, strides))
        return [x.view_of(*layout)]

    def perform_host(self, x) -> list:
        return self.node.op.perform(self.node, [np.asarray(x)])


lower.register(DimShuffle, lambda op, node: DimShuffleStep(node))


class ReshapeStep(Step):
    """A view of a C-contiguous array (else a contiguous copy first, on the device); a bad
    target shape raises the reference's error (its perform on a host stub)."""

    def run(self, ctx: Any) -> list:
        x = ctx.value(0)
        if not isinstance(x, DeviceArray):
            return self.node.op.perform(self.node, [x, ctx.host(1)])
        new = tuple(int(s) for s in ctx.host(1))
        if new.count(-1) == 1:  # numpy's inferred axis (flatten builds (batch, -1))
            known = -math.prod(new)
            if known and x.size % known == 0:
                new = tuple(x.size // known if s == -1 else s for s in new)
        if len(new) != self.node.op.ndim or np.prod(new, dtype=np.int64) != x.size:
            self.node.op.perform(self.node, [np.empty(x.shape, x.dtype), np.asarray(new)])
        return [contiguous(x).reshape(new)]


lower.register(Reshape, lambda op, node: ReshapeStep(node))
