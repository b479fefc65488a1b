"""Compiled elementwise and reduction kernels of the kernel IR, and how to launch them.

``ElemwiseKernel(kernel)`` holds the flat and strided versions of a kernel (cuda/renderer.py),
and ``run(inputs, outputs)`` launches the flat one when every operand is C-contiguous with the
output's shape (or one element), else the strided one with the operands' strides.
``ReduceKernel`` does the same for the reduction template. Operands of one element may be
host values: they are passed by value.

Launches are the host's cost of a GPU step, so they are cheap: kernels are prepared (pycuda
packs their arguments by one struct format, without looking at them), and what depends only
on the operands' layout (which kernel, its grid, the geometry struct) is a plan made once per
layout and looked up by shapes and strides afterwards.

nvcc costs about a second per call whatever the source's size, so kernels are compiled in
batches: ``load_all`` puts every kernel of a program not yet loaded into one translation unit
(their names are unique), one cubin (cached on disk), one module. A kernel is built once per
process.
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading

import numpy as np

from symgraph.codegen.cstyle import read_template
from symgraph.codegen.cuda.compiler import compile_cuda
from symgraph.codegen.cuda.driver import BLOCK, get_driver
from symgraph.codegen.cuda.renderer import UNROLL, CudaRenderer
from symgraph.codegen.cuda.storage import DeviceArray
from symgraph.codegen.kernel import Kernel

RENDERER = CudaRenderer()
_LOCK = threading.RLock()
_LOADED: dict[str | tuple, object] = {}  # by kernel name, or compiled_for's key
# pycuda's struct format of a by-value parameter of each dtype: bool as a byte, float16 as its
# bits (pycuda packs neither)
VALUE_FORMAT = {"bool": "B", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
                "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float16": "H",
                "float32": "f", "float64": "d"}
_DTYPES = {name: np.dtype(name) for name in VALUE_FORMAT}
_PLANS_MAX = 32  # cached launch plans per kernel or step (shapes rarely vary more)


def value_param(value, dtype: str):
    """A host scalar as the by-value kernel parameter of `dtype` (same bytes as CUDA's type:
    bool as a byte, float16 as its bits)."""
    dt = _DTYPES[dtype]
    if isinstance(value, np.generic) and value.dtype is dt and dtype not in ("bool", "float16"):
        return value  # already the parameter (the common case: a constant)
    v = np.asarray(value).astype(dt).reshape(())
    if dtype == "bool":
        return np.uint8(v)
    if dtype == "float16":
        return v.view(np.uint16)[()]
    return v[()]


def pointer(x: DeviceArray | None) -> int:
    return 0 if x is None else x.ptr


def geometry(*rows: list[int]) -> bytes:
    """int64 fields packed as one struct parameter (the "<n>s" of a prepared format)."""
    flat = [int(v) for row in rows for v in row] or [0]
    return struct.pack(f"{len(flat)}q", *flat)


def remember(plans: dict, key, plan):
    """plans[key] = plan, forgetting the others first when there are many (shapes that
    change every call should not grow the cache without bound)."""
    if len(plans) >= _PLANS_MAX:
        plans.clear()
    plans[key] = plan
    return plan


class _Loadable:
    """A kernel whose functions come from a (batched) module: `body` is its source without the
    prelude; `formats` maps each function's suffix to its prepared argument format."""

    formats: dict[str, str] = {}

    def __init__(self, kernel: Kernel, body: str):
        self.kernel, self.body = kernel, body
        self.name = kernel.name  # a hash of the listing: computed once
        self.functions: dict[str, object] | None = None

    @property
    def source(self) -> str:
        """The kernel's source as one standalone file (what program.dump() shows)."""
        return "\n".join([RENDERER.listing_comment(self.kernel),
                          read_template("cuda_prelude.h"), self.body])

    def function(self, suffix: str):
        if self.functions is None:
            load_all([self])
        return self.functions[suffix]


def load_all(kernels: list) -> None:
    """Compile the kernels not loaded yet in one nvcc call, and load that module."""
    with _LOCK:
        pending = list({id(k): k for k in kernels if k.functions is None}.values())
        if not pending:
            return
        drv = get_driver()
        source = "\n".join([read_template("cuda_prelude.h")] + [k.body for k in pending])
        key = "batch-" + hashlib.sha256(" ".join(k.name for k in pending).encode(
        )).hexdigest()[:24]
        names = ", ".join(k.name for k in pending[:3]) + (", ..." if len(pending) > 3 else "")
        cubin = compile_cuda(source, drv.arch, f"{len(pending)} kernels ({names})")
        for k in pending:
            k.functions = {suffix: drv.function(key, cubin, f"{k.name}_{suffix}", fmt)
                           for suffix, fmt in k.formats.items()}


class ElemwiseKernel(_Loadable):
    """The flat and strided CUDA kernels of one elementwise Kernel.

    ``plan(inputs, outputs)`` works out, once per layout of the operands, which kernel runs,
    on how many blocks, with what geometry; ``launch(plan, inputs, outputs)`` then only
    gathers pointers (and host scalars) and launches. ``run`` does both.
    """

    def __init__(self, kernel: Kernel):
        super().__init__(kernel, RENDERER.elemwise(kernel))
        params = "".join("P" + (VALUE_FORMAT[o.dtype] if o.is_scalar else "")
                         for o in kernel.inputs) + "P" * len(kernel.outputs) + "q"
        nd1 = max(kernel.ndim, 1)  # the struct's arrays have at least one entry
        nops = len(kernel.inputs) + len(kernel.outputs)
        # the struct follows the int64 n: at an 8-byte offset, as CUDA places it
        self.formats = {"flat": params, "strided": params + f"{8 * nd1 * (1 + nops)}s"}
        self.scalars = [(o.is_scalar, o.dtype) for o in kernel.inputs]
        self.plans: dict = {}

    def plan(self, inputs: list, outputs: list[DeviceArray]) -> tuple | None:
        """(function, grid, extra arguments) for operands laid out as these; None: nothing
        to do (no elements)."""
        kernel = self.kernel
        shape = outputs[0].shape
        n = outputs[0].size
        if n == 0:
            return None
        drv = get_driver()
        contiguous = all(y.is_c_contiguous for y in outputs)
        for x, o in zip(inputs, kernel.inputs):
            if not o.is_scalar:
                contiguous &= x.is_c_contiguous and x.shape == shape
        if contiguous:
            # one pass of the unrolled loop (UNROLL elements a thread) over the whole array:
            # on the H100 the fused benchmark kernel took 0.298 ms on 100M float32 against
            # 0.314 ms with the grid capped at 32 blocks per SM (diagnose.py's 'variants')
            return self.function("flat"), drv.pass_grid(n, UNROLL), (n,)
        nd1 = max(len(shape), 1)
        strides = [list(x.elem_strides()) if isinstance(x, DeviceArray) and not o.is_scalar
                   else [0] * nd1 for x, o in zip(inputs, kernel.inputs)]
        strides += [list(y.elem_strides()) for y in outputs]
        rows = [(list(shape) or [1])] + [(row or [0]) for row in strides]
        return self.function("strided"), drv.grid(n), (n, geometry(*rows))

    def launch(self, plan: tuple | None, inputs: list, outputs: list[DeviceArray]) -> None:
        """The kernel on these operands (laid out as when `plan` was made)."""
        if plan is None:
            return
        fn, grid, extra = plan
        args = []
        for x, (scalar, dtype) in zip(inputs, self.scalars):
            if not scalar:
                args.append(x.ptr)
            elif type(x) is DeviceArray:
                args += (x.ptr, 0)
            else:
                args += (0, value_param(x, dtype))
        for y in outputs:
            args.append(y.ptr)
        fn.prepared_async_call(grid, BLOCK, get_driver().stream, *args, *extra)

    def run(self, inputs: list, outputs: list[DeviceArray]) -> None:
        """inputs: DeviceArrays (or host values for the one-element operands); outputs: device
        arrays of the output's shape (the caller checked the shapes)."""
        key = tuple((x.shape, x.strides) if type(x) is DeviceArray else None
                    for x in [*inputs, *outputs])
        plan = self.plans[key] if key in self.plans else remember(
            self.plans, key, self.plan(inputs, outputs))
        self.launch(plan, inputs, outputs)


class ReduceKernel(_Loadable):
    """The two CUDA kernels of one reduction Kernel (kernels/reduce.cu)."""

    def __init__(self, kernel: Kernel):
        super().__init__(kernel, RENDERER.reduce(kernel))
        kept = max(kernel.ndim - len(kernel.axes), 1)
        geom = 8 * (2 + 3 * kept + 2 * len(kernel.axes))  # struct sg_reduce_geom
        self.formats = {"rows": f"PP{geom}s", "cols": f"PP{geom}s"}
        self.plans: dict = {}

    def plan(self, x: DeviceArray, out: DeviceArray) -> tuple | None:
        """(function, grid, geometry) for x and out laid out as these; None: no output."""
        drv = get_driver()
        axes = self.kernel.axes
        kept = [a for a in range(x.ndim) if a not in axes]
        xs, os = x.elem_strides(), out.elem_strides()
        n_kept = math.prod(x.shape[a] for a in kept)
        n_red = math.prod(x.shape[a] for a in axes)
        if n_kept == 0:
            return None
        geom = geometry([n_kept, n_red],
                        [x.shape[a] for a in kept] or [1], [xs[a] for a in kept] or [0],
                        list(os) or [0], [x.shape[a] for a in axes], [xs[a] for a in axes])
        # the innermost reduced axis contiguous: a block per row, its threads side by side;
        # else a thread per output element (neighbours read neighbouring kept elements)
        if x.ndim - 1 in axes and n_red >= 32:
            return self.function("rows"), (min(n_kept, drv.max_blocks), 1), geom
        return self.function("cols"), drv.grid(n_kept), geom

    def run(self, x: DeviceArray, out: DeviceArray) -> None:
        """Fold x over the kernel's axes into `out` (shape: x's kept axes)."""
        key = (x.shape, x.strides, out.strides)
        plan = self.plans[key] if key in self.plans else remember(
            self.plans, key, self.plan(x, out))
        if plan is not None:
            fn, grid, geom = plan
            fn.prepared_async_call(grid, BLOCK, get_driver().stream, x.ptr, out.ptr,
                                   geom)


def compiled(kernel: Kernel, kind: type) -> ElemwiseKernel | ReduceKernel:
    """The process-wide kernel object (rendered now; compiled by the next load_all)."""
    with _LOCK:
        found = _LOADED.get(kernel.name)
        if found is None:
            found = _LOADED[kernel.name] = kind(kernel)
        return found


def compiled_for(key: tuple, build, kind: type) -> ElemwiseKernel | ReduceKernel:
    """compiled(build(), kind), found again by `key` without building the IR: for kernels
    looked up at run time (a Kernel's name is a hash of its listing, tens of microseconds)."""
    found = _LOADED.get(key)
    if found is None:
        found = compiled(build(), kind)
        with _LOCK:
            _LOADED[key] = found
    return found
