"""The general paths of the driver's native steps (program.py): what runs when the fast path
cannot (first call, new shapes, odd layouts, work large enough for threads, errors).

A step normalizes its operands (plain aligned ndarrays of the kernel's dtypes), computes the
output shape with Theano's broadcasting rule (only static size-1 axes broadcast; a mismatch is
the error perform gives), picks output buffers, then calls the kernel's entry point, split
across the thread pool when the work is large.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable

import numpy as np

from symgraph.codegen import llvm_load
from symgraph.codegen.kernel import Kernel, NotLowerable
from symgraph.codegen.llvm_abi import PARALLEL_MIN, cpu_threads
from symgraph.codegen.llvm_load import compile_kernel
from symgraph.codegen.python import node_error, perform_function
from symgraph.graph import Apply, Constant
from symgraph.ops.elemwise import DimShuffle, _check_runtime_broadcast


class ThreadPool:
    """Persistent workers running slices of a kernel (entry points release the GIL)."""

    def __init__(self, workers: int):
        import queue  # here: made when a kernel first splits, not by every first compile

        self.size = workers + 1  # the calling thread runs a slice too
        self.queue = queue.SimpleQueue
        self.tasks: queue.SimpleQueue = self.queue()
        for k in range(workers):
            threading.Thread(target=self._work, name=f"symgraph-{k}", daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, part, done = self.tasks.get()
            try:
                done.put(fn(part))
            except BaseException as exc:  # handed to the caller, which re-raises
                done.put(exc)

    def run(self, fn: Callable[[int], int], nparts: int) -> list:
        """[fn(0), ..., fn(nparts - 1)], fn(0) on this thread."""
        done = self.queue()
        for part in range(1, nparts):
            self.tasks.put((fn, part, done))
        results = [fn(0)] + [done.get() for _ in range(1, nparts)]
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results


_POOL: list[ThreadPool] = []
_POOL_LOCK = threading.Lock()


def thread_pool() -> ThreadPool:
    """The process-wide pool: one worker per extra CPU this process may use, or
    SYMGRAPH_NUM_THREADS threads in all (1: kernels run on the calling thread only)."""
    if not _POOL:
        with _POOL_LOCK:
            if not _POOL:
                _POOL.append(ThreadPool(max(cpu_threads() - 1, 0)))
    return _POOL[0]


# From this many elements a kernel of a function that also calls BLAS is split across
# threads: BLAS's workers (OpenBLAS's, MKL's OpenMP threads) spin for a while after each
# product, so a pool worker shares its core with one and a split kernel of a few hundred
# thousand elements ran slower than on one thread (the MLP train step: ~10% per step).
PARALLEL_MIN_WITH_BLAS = 1 << 20


def run_entry(
    entry: Callable, operands: list, work: int, splittable: bool = True,
    parallel_min: int = PARALLEL_MIN,
) -> int:
    """entry(*operands), in slices on the thread pool when `work` is at least `parallel_min`
    elements; the worst code of the slices."""
    if work < PARALLEL_MIN or not splittable:
        return entry(*operands)
    if work >= 2 * parallel_min:
        pool = thread_pool()
        nparts = min(pool.size, work // parallel_min)
        if nparts > 1:
            return max(pool.run(lambda part: entry(*operands, part, nparts), nparts))
    return entry(*operands, 0, 1)  # one slice: the entry asks for slices from PARALLEL_MIN


def free_buffer_lines(bufs: str) -> list[str]:
    """Driver lines setting `o` to buffer 0 of the list `bufs`, or its spare (buffer 1, then
    swapped in front) when a caller still holds buffer 0 (a result kept across calls: the two
    alternate), or None when both are held; the driver's own lines of `take_buffer`."""
    return [
        f"o = {bufs}[0]",
        "if getrefcount(o) != 3:",  # held by the list, `o` and the argument: else by a caller
        f"    o = {bufs}[1]",
        "    if getrefcount(o) == 3:",
        f"        {bufs}[1] = {bufs}[0]",
        f"        {bufs}[0] = o",
        "    else:",
        "        o = None",  # both held: the general path
    ]


def normalize(x, dtype: np.dtype) -> np.ndarray:
    """`x` as a plain, aligned ndarray whose dtype object is numpy's canonical `dtype`."""
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if x.dtype is not dtype:
        x = x.astype(dtype) if x.dtype != dtype else x.view(dtype)
    if not x.flags.aligned:
        x = x.copy()
    return x


def take_buffer(buffers: list, k: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Buffer k when it has this shape and nobody else holds it, else its spare (kept in
    ``buffers[k + len(buffers) // 2]``, so an update written to a shared variable each call
    ping-pongs between two buffers), else a new one."""
    spare = k + len(buffers) // 2
    for slot in (k, spare):
        buf = buffers[slot]
        # references: the list, `buf`, getrefcount's argument
        if buf is not None and sys.getrefcount(buf) == 3 and buf.shape == shape:
            if slot == spare:  # the fast path looks at slot k first next time
                buffers[k], buffers[spare] = buf, buffers[k]
            return buf
    buffers[spare] = buffers[k]
    buf = buffers[k] = np.empty(shape, dtype)
    return buf


class KernelStep:
    """A node run by a kernel: its entry point, operand dtypes and output buffers."""

    def __init__(self, node: Apply, kernel: Kernel, arrays: list[int]):
        self.node = node
        self.kernel = kernel
        self.arrays = arrays  # the node inputs the kernel reads as arrays, in order
        self._compiled = None  # compile_steps() builds the kernels of a program together
        self.in_dtypes = [np.dtype(o.dtype) for o in kernel.inputs]
        self.out_dtypes = [np.dtype(o.dtype) for o in kernel.outputs]
        self.bcast = [o.bcast for o in kernel.inputs]
        self.ndim = kernel.ndim
        self.buffers: list = [None] * (2 * len(kernel.outputs))  # current, spare
        self.parallel_min = PARALLEL_MIN  # raised when the program also calls BLAS

    @property
    def compiled(self):
        """The compiled kernel (compiled now, alone, if compile_steps has not run)."""
        if self._compiled is None:
            self._compiled = compile_kernel(self.kernel)
        return self._compiled

    @property
    def entry(self) -> Callable:
        """The kernel's entry point: ``entry(*inputs, *outputs[, part, nparts]) -> code``."""
        return self.compiled.call

    def shape(self, arrays: list[np.ndarray]) -> tuple:
        """The loop shape; raises perform's error when the inputs do not broadcast."""
        for x in arrays:
            if x.ndim != self.ndim:
                self.fail(
                    arrays,
                    ValueError(f"input of {x.ndim} dimensions where {self.ndim} are expected"),
                )
        shape = []
        for d in range(self.ndim):
            size = None
            for x, bc in zip(arrays, self.bcast):
                if not bc[d]:
                    if size is None:
                        size = x.shape[d]
                    elif x.shape[d] != size:
                        self.fail(arrays)
                elif x.shape[d] != 1:
                    self.fail(arrays)
            shape.append(1 if size is None else size)
        return tuple(shape)

    def fail(self, arrays: list[np.ndarray], exc: Exception | None = None):
        """Raise the reference's error for these inputs, with node_error's context."""
        values = self.all_inputs(arrays)
        if exc is None:
            try:
                _check_runtime_broadcast(self.node, values)
                exc = ValueError(
                    f"input shapes {[np.shape(v) for v in values]} do not broadcast together"
                )
            except ValueError as err:
                exc = err
        raise node_error(self.node, exc, values)

    def all_inputs(self, arrays: list) -> list:
        values = [np.asarray(v.data) if isinstance(v, Constant) else None for v in self.node.inputs]
        for i, x in zip(self.arrays, arrays):
            values[i] = x
        return values

    def check(self, code: int, arrays: list) -> None:
        if code == 2:
            self.fail(arrays)
        if code != 0:
            raise RuntimeError(
                f"internal error: kernel {self.kernel.name} of {self.node} "
                f"rejected its operands (code {code})"
            )


def compile_steps(
    steps: list[KernelStep], meanwhile: Callable[[], None] | None = None
) -> list[KernelStep]:
    """Compile the kernels of ``steps`` together: the LLVM compiler builds those missing from
    the disk cache on several threads (llvm_load.compile_kernels), while this thread runs
    ``meanwhile``. Returns the steps whose kernel the renderer cannot express (NotLowerable):
    their nodes run their numpy reference instead. The C backend's copy of this module
    (c_program.py) replaces ``compile_kernel``, and then compiles one kernel at a time."""
    todo = [s for s in steps if s._compiled is None]
    if compile_kernel is llvm_load.compile_kernel:
        results = llvm_load.compile_kernels([s.kernel for s in todo], meanwhile)
    else:
        if meanwhile is not None:
            meanwhile()
        results = []
        for step in todo:
            try:
                results.append(compile_kernel(step.kernel))
            except NotLowerable as exc:
                results.append(exc)
    failed = []
    for step, result in zip(todo, results):
        if isinstance(result, NotLowerable):
            failed.append(step)
        else:
            step._compiled = result
    return failed


class ElemwiseStep(KernelStep):
    """An Elemwise node run by its kernel; `general(*arrays)` is the full path."""

    def __init__(self, node: Apply, kernel: Kernel, arrays: list[int]):
        super().__init__(node, kernel, arrays)
        self.inplace_input = None  # position among the node's inputs
        pattern = getattr(node.op, "inplace_pattern", ())
        if pattern and pattern[0][1] in arrays and len(kernel.outputs) == 1:
            self.inplace_input = pattern[0][1]

    def general(self, *arrays):
        arrays = [normalize(x, dt) for x, dt in zip(arrays, self.in_dtypes)]
        shape = self.shape(arrays)
        outs = None
        if self.inplace_input is not None:
            target = arrays[self.arrays.index(self.inplace_input)]
            if (
                target.shape == shape
                and target.dtype is self.out_dtypes[0]
                and (target.flags.writeable)
            ):
                outs = [target]
        if outs is None:
            outs = [take_buffer(self.buffers, k, shape, dt) for k, dt in enumerate(self.out_dtypes)]
        self.check(
            run_entry(self.entry, arrays + outs, math.prod(shape),
                      parallel_min=self.parallel_min), arrays
        )
        return outs if len(outs) > 1 else outs[0]


class ReduceStep(KernelStep):
    """A CAReduce (or FusedReduce: a Composite folded) node run by its kernel."""

    def __init__(self, node: Apply, kernel: Kernel, arrays: list[int]):
        super().__init__(node, kernel, arrays)
        self.axes = kernel.axes
        self.splittable = kernel.ndim > 0 and 0 not in kernel.axes
        self.perform = perform_function(node.op)

    def general(self, *arrays):
        arrays = [normalize(x, dt) for x, dt in zip(arrays, self.in_dtypes)]
        shape = self.shape(arrays)
        size = math.prod(shape)
        if size >= PARALLEL_MIN:  # the kernel loops in the inputs' axis order
            arrays = [x if x.flags.c_contiguous else np.ascontiguousarray(x) for x in arrays]
        out_shape = tuple(s for a, s in enumerate(shape) if a not in self.axes)
        out = take_buffer(self.buffers, 0, out_shape, self.out_dtypes[0])
        code = run_entry(self.entry, arrays + [out], size, self.splittable, self.parallel_min)
        if code == 2:  # max / min over an empty axis: the reference raises
            values = self.all_inputs(arrays)
            try:
                self.perform(self.node, values)
            except Exception as exc:
                raise node_error(self.node, exc, values) from exc
        self.check(code, arrays)
        return out


def dimshuffle_expression(op: DimShuffle, src: str) -> str | None:
    """The view as a Python expression of `src` where it is one attribute or one index (a
    transpose of every axis, or new axes only), else None. The driver's own line skips a
    function call: in an MLP step, whose GEMMs leave the interpreter's code out of cache, a
    transpose step took ~5 us through `dimshuffle_view`."""
    if op.drop:
        return None
    if op.input_ndim > 1 and tuple(op.new_order) == tuple(reversed(range(op.input_ndim))):
        return f"{src}.T"
    if op.shuffle != list(range(op.input_ndim)):
        return None
    if not op.augment:
        return src
    index = ["None" if d == "x" else ":" for d in op.new_order]
    while index[-1] == ":":
        index.pop()
    return f"{src}[{', '.join(index)}]"


def dimshuffle_view(op: DimShuffle) -> Callable[[np.ndarray], np.ndarray]:
    """DimShuffle as numpy view operations: a transpose, then an index that drops the
    (size-1) dropped axes and inserts the new ones."""
    perm = tuple(op.shuffle + op.drop)
    index = tuple(None if d == "x" else slice(None) for d in op.new_order) + (0,) * len(op.drop)
    transpose = perm != tuple(range(op.input_ndim))
    trivial = all(i == slice(None) for i in index)
    if transpose and trivial:
        return lambda x: x.transpose(perm)
    if transpose:
        return lambda x: x.transpose(perm)[index]
    if trivial:
        return lambda x: x
    return lambda x: x[index]
