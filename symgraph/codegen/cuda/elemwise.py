"""Compiled elementwise and reduction kernels of the kernel IR, and how to launch them.

``ElemwiseKernel(kernel)`` holds the flat and strided versions of a kernel (cuda/renderer.py),
and ``run(inputs, outputs)`` launches the flat one when every operand is C-contiguous with the
output's shape (or one element), else the strided one with the operands' strides.
``ReduceKernel`` does the same for the reduction template. Operands of one element may be
host values: they are passed by value.

nvcc costs about a second per call whatever the source's size, so kernels are compiled in
batches: ``load_all`` puts every kernel of a program not yet loaded into one translation unit
(their names are unique), one cubin (cached on disk), one module. A kernel is built once per
process.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from symgraph.codegen.cstyle import read_template
from symgraph.codegen.cuda.compiler import compile_cuda
from symgraph.codegen.cuda.driver import get_driver
from symgraph.codegen.cuda.renderer import CudaRenderer
from symgraph.codegen.cuda.storage import DeviceArray
from symgraph.codegen.kernel import Kernel

RENDERER = CudaRenderer()
BLOCK = 256  # kernels/cuda_prelude.h's SG_BLOCK
_LOCK = threading.RLock()
_LOADED: dict[str, object] = {}


def value_param(value, dtype: str) -> np.generic:
    """A host scalar as the by-value kernel parameter of `dtype` (same bytes as CUDA's type:
    bool as a byte, float16 as its bits, since pycuda packs neither)."""
    v = np.asarray(value).astype(dtype).reshape(())
    if dtype == "bool":
        return np.uint8(v)
    if dtype == "float16":
        return v.view(np.uint16)[()]
    return v[()]


def pointer(x: DeviceArray | None) -> np.uintp:
    return np.uintp(0 if x is None else x.ptr)


def geometry(*rows: list[int]) -> np.void:
    """int64 fields packed as one struct parameter (pycuda passes np.void bytes by value)."""
    flat = np.array([v for row in rows for v in row] or [0], dtype=np.int64)
    return flat.view(np.dtype((np.void, flat.nbytes)))[0]


class _Loadable:
    """A kernel whose functions come from a (batched) module: `body` is its source without the
    prelude, `names` the functions it defines."""

    names: tuple[str, ...] = ()

    def __init__(self, kernel: Kernel, body: str):
        self.kernel, self.body = kernel, body
        self.functions: dict[str, object] | None = None

    @property
    def source(self) -> str:
        """The kernel's source as one standalone file (what program.dump() shows)."""
        return "\n".join([RENDERER.listing_comment(self.kernel),
                          read_template("cuda_prelude.h"), self.body])

    def function(self, suffix: str):
        if self.functions is None:
            load_all([self])
        return self.functions[f"{self.kernel.name}_{suffix}"]


def load_all(kernels: list) -> None:
    """Compile the kernels not loaded yet in one nvcc call, and load that module."""
    with _LOCK:
        pending = list({id(k): k for k in kernels if k.functions is None}.values())
        if not pending:
            return
        drv = get_driver()
        source = "\n".join([read_template("cuda_prelude.h")] + [k.body for k in pending])
        key = "batch-" + hashlib.sha256(" ".join(k.kernel.name for k in pending).encode(
        )).hexdigest()[:24]
        names = ", ".join(k.kernel.name for k in pending[:3]) + (", ..." if len(pending) > 3
                                                                  else "")
        cubin = compile_cuda(source, drv.arch, f"{len(pending)} kernels ({names})")
        for k in pending:
            k.functions = {f"{k.kernel.name}_{n}": drv.function(key, cubin,
                                                                 f"{k.kernel.name}_{n}")
                           for n in k.names}


class ElemwiseKernel(_Loadable):
    """The flat and strided CUDA kernels of one elementwise Kernel."""

    names = ("flat", "strided")

    def __init__(self, kernel: Kernel):
        super().__init__(kernel, RENDERER.elemwise(kernel))

    def run(self, inputs: list, outputs: list[DeviceArray]) -> None:
        """inputs: DeviceArrays (or host values for the one-element operands); outputs: device
        arrays of the output's shape (the caller checked the shapes)."""
        drv = get_driver()
        kernel = self.kernel
        shape = outputs[0].shape
        n = outputs[0].size
        if n == 0:
            return
        args: list = []
        contiguous = True
        for x, o in zip(inputs, kernel.inputs):
            if o.is_scalar:
                on_device = isinstance(x, DeviceArray)
                args += [pointer(x if on_device else None),
                         value_param(0 if on_device else x, o.dtype)]
                continue
            args.append(pointer(x))
            contiguous &= x.is_c_contiguous and x.shape == shape
        args += [pointer(y) for y in outputs]
        contiguous &= all(y.is_c_contiguous for y in outputs)
        if contiguous:
            drv.launch(self.function("flat"), n, args + [np.int64(n)])
            return
        nd1 = max(len(shape), 1)  # the struct's arrays have at least one entry
        strides = [list(x.elem_strides()) if isinstance(x, DeviceArray) and not o.is_scalar
                   else [0] * nd1 for x, o in zip(inputs, kernel.inputs)]
        strides += [list(y.elem_strides()) for y in outputs]
        rows = [(list(shape) or [1])] + [(row or [0]) for row in strides]
        drv.launch(self.function("strided"), n, args + [np.int64(n), geometry(*rows)])


class ReduceKernel(_Loadable):
    """The two CUDA kernels of one reduction Kernel (kernels/reduce.cu)."""

    names = ("rows", "cols")

    def __init__(self, kernel: Kernel):
        super().__init__(kernel, RENDERER.reduce(kernel))

    def run(self, x: DeviceArray, out: DeviceArray) -> None:
        """Fold x over the kernel's axes into `out` (shape: x's kept axes)."""
        drv = get_driver()
        axes = self.kernel.axes
        kept = [a for a in range(x.ndim) if a not in axes]
        xs, os = x.elem_strides(), out.elem_strides()
        n_kept = int(np.prod([x.shape[a] for a in kept], dtype=np.int64))
        n_red = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        if n_kept == 0:
            return
        geom = geometry([n_kept, n_red],
                        [x.shape[a] for a in kept] or [1], [xs[a] for a in kept] or [0],
                        list(os) or [0], [x.shape[a] for a in axes], [xs[a] for a in axes])
        args = [pointer(x), pointer(out), geom]
        # the innermost reduced axis contiguous: a block per row, its threads side by side;
        # else a thread per output element (neighbours read neighbouring kept elements)
        if x.ndim - 1 in axes and n_red >= 32:
            drv.launch(self.function("rows"), n_kept, args, grid=min(n_kept, drv.sm_count * 32))
        else:
            drv.launch(self.function("cols"), n_kept, args)


def compiled(kernel: Kernel, kind: type) -> ElemwiseKernel | ReduceKernel:
    """The process-wide kernel object (rendered now; compiled by the next load_all)."""
    with _LOCK:
        found = _LOADED.get(kernel.name)
        if found is None:
            found = _LOADED[kernel.name] = kind(kernel)
        return found
