"""Convolution and pooling steps of the native driver: the ops' numpy kernels, into buffers
that each node keeps from one call to the next.

The kernels (ops/conv_kernels.py, ops/pool.py) already run as a few large numpy / BLAS calls;
what the native backend adds is memory: a layer writes several arrays of megabytes (padded
image, columns, GEMM product, output), and with a new array for each, page faults made the
first layer of the benchmark convnet (ops in isolation) up to 6x slower on the development
machine than writing into the arrays of the previous call. So each node owns a Workspace,
and every array a kernel asks for is the one it had last call, unless someone else still
holds it (the reference-count rule of program_steps.take_buffer: a buffer
handed out as an output is never overwritten while the caller holds it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from symgraph.codegen import pool_native
from symgraph.codegen.program_steps import take_buffer
from symgraph.graph import Apply


class Workspace:
    """A node's buffers by (slot, dtype): an Alloc for the kernels of ops/conv_kernels.py."""

    def __init__(self) -> None:
        self.slots: dict[tuple, list] = {}

    def __call__(self, slot: str, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        buffers = self.slots.setdefault((slot, dtype.str), [None, None])
        return take_buffer(buffers, 0, tuple(shape), dtype)


def compute_call(node: Apply) -> Callable:
    """`node.op.compute` with this node's Workspace: (*inputs) -> output."""
    compute, workspace = node.op.compute, Workspace()

    def call(*inputs):
        return compute(node, list(inputs), workspace)

    return call


def maxpool_call(node: Apply) -> Callable:
    """Pool through the C kernel of pool_native.py where it applies, else its numpy kernel."""
    op, compute, workspace = node.op, node.op.compute, Workspace()

    def call(x):
        out = pool_native.maxpool(op, x, workspace)
        return compute(node, [x], workspace) if out is None else out

    return call


def maxpool_grad_call(node: Apply) -> Callable:
    """MaxPoolGrad through the C kernel of pool_native.py where it applies, else numpy."""
    op, compute, workspace = node.op, node.op.compute, Workspace()

    def call(x, z, gz):
        out = pool_native.maxpool_grad(op, x, z, gz, workspace)
        return compute(node, [x, z, gz], workspace) if out is None else out

    return call


def register(lower, emit_class) -> None:
    """Register the steps with the driver's `lower` dispatcher (program.py)."""
    from symgraph.ops.conv import AbstractConv2d
    from symgraph.ops.conv_grad import AbstractConv2d_gradInputs, AbstractConv2d_gradWeights
    from symgraph.ops.pool import MaxPoolGrad, Pool

    for op_class in (AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights):
        lower.register(op_class)(_lowering(compute_call))
    lower.register(Pool)(_lowering(maxpool_call))
    lower.register(MaxPoolGrad)(_lowering(maxpool_grad_call))


def _lowering(make: Callable[[Apply], Callable]):
    def lowering(op, node: Apply, ins: list[str], outs: list[str], emit) -> bool:
        # every output is a Workspace buffer, reused only when nobody holds it
        return emit.python_call(make(node), node, ins, outs, fresh=True, blas=True)

    return lowering

