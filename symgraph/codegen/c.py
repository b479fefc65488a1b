"""The C renderer of the kernel IR: loop nests printed as C, built by the system compiler.

Each kernel becomes one C source (``dump`` it with ``CompiledKernel.ir``), compiled to a shared
library by ``cc -O3 -march=native -shared -fPIC`` and cached on disk (codegen/cache.py) under a
key of the source, the flags and the compiler's version. Its functions (operands: inputs, then
outputs), as in the LLVM renderer (codegen/llvm.py):

``sg_flat(start, stop, data)``
    elementwise kernels only: every operand C-contiguous with the output's shape (or one
    broadcast element); elements [start, stop) of the flat range: the loop vectorizers like.
``sg_strided(start, stop, shape, data, strides)``
    any layout: ``strides[k * ndim + d]`` is operand k's stride on axis d in elements (0 where
    it broadcasts; for a reduction's output, 0 on the reduced axes); axis 0 runs over
    [start, stop), the others over their full size.
``<name>_info``
    what the Python entry point (kernels/c_entry.c, one library built once per machine) needs
    to check the operands and call the loops; each kernel's builtin function is that entry
    with this info, and has the LLVM entry points' protocol, so the native driver
    (codegen/program.py, through codegen/c_program.py) runs both alike.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from symgraph.codegen.c_toolchain import build_shared_library, toolchain
from symgraph.codegen.cstyle import CStyleRenderer, read_template
from symgraph.codegen.kernel import Kernel, NotLowerable, reduce_identity
from symgraph.codegen.llvm_abi import GIL_RELEASE_MIN, METH_FASTCALL, PARALLEL_MIN

RENDERER_VERSION = "1"
MAX_OPERANDS = 64  # kernels/c_entry.c's SG_MAXOPS
REDUCE_CHUNK = 1024  # float sums add blocks of this many elements, then the blocks (accuracy)


class CRenderer(CStyleRenderer):
    """Kernel IR -> one C translation unit: the loops, the tables of the entry, the entry."""

    def __init__(self, openmp: bool = False):
        self.openmp = openmp

    def render(self, kernel: Kernel) -> str:
        if any(o.dtype.startswith("complex") for o in kernel.inputs + kernel.outputs):
            raise NotLowerable("complex numbers")
        if len(kernel.inputs) + len(kernel.outputs) > MAX_OPERANDS:
            raise NotLowerable(f"a kernel of more than {MAX_OPERANDS} operands")
        parts = [self.listing_comment(kernel), read_template("c_kernel.h"),
                 read_template("scalar.h")]
        if kernel.kind == "elemwise":
            parts += [self.flat(kernel), self.strided_elemwise(kernel)]
        else:
            parts += [self.init_output(kernel), self.strided_reduce(kernel)]
        parts.append(self.info(kernel))
        return "\n".join(parts)

    # --- what the entry point reads -------------------------------------------------------

    def info(self, kernel: Kernel) -> str:
        """The kernel's sg_kernel_info (kernels/c_kernel.h), exported as `<name>_info`."""
        nd, nin = kernel.ndim, len(kernel.inputs)
        ops = list(kernel.inputs) + list(kernel.outputs)

        def array(ctype: str, name: str, values: list) -> str:
            body = ", ".join(str(int(v)) for v in values) or "0"  # C has no empty arrays
            return f"static const {ctype} {name}[] = {{{body}}};"

        reduce = kernel.kind == "reduce"
        # with OpenMP the kernels run their own threads: never ask the driver to split
        split_min = "INT64_MAX" if self.openmp else f"{PARALLEL_MIN}LL"
        return "\n".join([
            array("unsigned char", "sg_bcast", [b for o in kernel.inputs for b in o.bcast]),
            array("unsigned char", "sg_scalar", [o.is_scalar for o in kernel.inputs]),
            array("int64_t", "sg_itemsize", [np.dtype(o.dtype).itemsize for o in ops]),
            array("unsigned char", "sg_reduced", [a in kernel.axes for a in range(nd)]),
            f"const sg_kernel_info {kernel.name}_info = {{",
            f"    .nin = {nin}, .nout = {len(kernel.outputs)}, .ndim = {nd},",
            f"    .reduce = {int(reduce)}, .naxes = {len(kernel.axes)},",
            f"    .empty_is_error = {int(kernel.reduce_op in ('maximum', 'minimum'))},",
            f"    .parallel_min = {split_min}, .gil_release_min = {GIL_RELEASE_MIN}LL,",
            "    .bcast = sg_bcast, .scalar = sg_scalar, .itemsize = sg_itemsize,",
            "    .reduced = sg_reduced,",
            "    .flat = " + ("NULL" if reduce else "sg_flat") + ", .strided = sg_strided,",
            "    .init_output = " + ("sg_init_output" if reduce else "NULL") + ",",
            "};", ""])

    # --- elementwise ----------------------------------------------------------------------

    def pointers(self, kernel: Kernel, prefix: str, hoist_scalars: bool) -> list[str]:
        """Typed pointers to the operands (scalar inputs read once, when `hoist_scalars`)."""
        lines = []
        for k, o in enumerate(kernel.inputs):
            ty = self.storage(o.dtype)
            if hoist_scalars and o.is_scalar:
                value = self.load(f"(({ty} *)data[{k}])[0]", o.dtype)
                lines.append(f"    const {self.ctype(o.dtype)} {prefix}{k}_0 = {value};")
            else:
                lines.append(f"    const {ty} *{self.restrict} {prefix}{k} = "
                             f"(const {ty} *)data[{k}];")
        nin = len(kernel.inputs)
        for k, o in enumerate(kernel.outputs):
            ty = self.storage(o.dtype)
            lines.append(f"    {ty} *{self.restrict} out{k} = ({ty} *)data[{nin + k}];")
        return lines

    def flat(self, kernel: Kernel) -> str:
        lines = ["static void sg_flat(int64_t start, int64_t stop, char *const *data)", "{"]
        lines += self.pointers(kernel, "in", hoist_scalars=True)
        if self.openmp:
            lines.append("    #pragma omp parallel for simd if (stop - start >= "
                         f"{PARALLEL_MIN}) schedule(static)")
        lines.append("    for (int64_t i = start; i < stop; i++) {")

        def load(k: int) -> str:
            o = kernel.inputs[k]
            return f"in{k}_0" if o.is_scalar else self.load(f"in{k}[i]", o.dtype)

        body, values = self.body(kernel, load, "        ")
        lines += body
        lines += [f"        out{k}[i] = {self.store(v, o.dtype)};"
                  for k, (v, o) in enumerate(zip(values, kernel.outputs))]
        return "\n".join(lines + ["    }", "}", ""])

    def strided_head(self, kernel: Kernel, parallel: bool) -> tuple[list[str], list[str]]:
        """The strided kernel's signature, pointers, strides and outer loops (axes 0 ..
        ndim-2), and the lines closing them; operand k's offset at the inner loop is `o{k}`."""
        nd, nin = kernel.ndim, len(kernel.inputs)
        ops = list(kernel.inputs) + list(kernel.outputs)
        lines = ["static void sg_strided(int64_t start, int64_t stop, const int64_t *shape,",
                 "                       char *const *data, const int64_t *strides)", "{"]
        lines += self.pointers(kernel, "in", hoist_scalars=False)
        for k, o in enumerate(ops):
            for d in range(nd):
                static_zero = k < nin and o.bcast[d]  # a static broadcast axis: 0 whatever
                value = "0" if static_zero else f"strides[{k * nd + d}]"
                lines.append(f"    const int64_t s{k}_{d} = {value};")
        if nd == 0:
            lines.append("    if (start >= stop) return;")
            lines += [f"    const int64_t o{k} = 0;" for k in range(len(ops))]
            return lines, ["}", ""]
        closing = []
        indent = "    "
        for d in range(nd - 1):
            lo, hi = ("start", "stop") if d == 0 else ("0", f"shape[{d}]")
            if d == 0 and parallel:
                lines.append(f"{indent}#pragma omp parallel for if ((stop - start) * "
                             f"shape[{nd - 1}] >= {PARALLEL_MIN}) schedule(static)")
            lines.append(f"{indent}for (int64_t i{d} = {lo}; i{d} < {hi}; i{d}++) {{")
            indent += "    "
            for k in range(len(ops)):
                prev = f"o{k}_{d - 1} + " if d else ""
                name = f"o{k}_{d}" if d < nd - 2 else f"o{k}"
                lines.append(f"{indent}const int64_t {name} = {prev}i{d} * s{k}_{d};")
            closing.insert(0, indent[:-4] + "}")
        if nd == 1:
            lines += [f"    const int64_t o{k} = 0;" for k in range(len(ops))]
        return lines, closing + ["}", ""]

    def strided_elemwise(self, kernel: Kernel) -> str:
        nd, nin = kernel.ndim, len(kernel.inputs)
        ops = list(kernel.inputs) + list(kernel.outputs)
        lines, closing = self.strided_head(kernel, self.openmp)
        indent = "    " * max(nd, 1)
        if nd == 0:
            body, values = self.body(kernel, lambda k: self.load(
                f"in{k}[0]", kernel.inputs[k].dtype), "    ")
            lines += body
            lines += [f"    out{k}[0] = {self.store(v, o.dtype)};"
                      for k, (v, o) in enumerate(zip(values, kernel.outputs))]
            return "\n".join(lines + closing)
        last = nd - 1
        moving = [k for k, o in enumerate(ops) if not (k < nin and o.bcast[last])]
        lo, hi = ("start", "stop") if nd == 1 else ("0", f"shape[{last}]")
        unit = " && ".join(f"s{k}_{last} == 1" for k in moving) or "1"

        def loop(step: bool) -> list[str]:
            def index(k: int) -> str:
                if k not in moving:
                    return f"o{k}"
                return f"o{k} + j * s{k}_{last}" if step else f"o{k} + j"

            ind = indent + "    "
            out = [f"{ind}for (int64_t j = {lo}; j < {hi}; j++) {{"]
            body, values = self.body(kernel, lambda k: self.load(
                f"in{k}[{index(k)}]", kernel.inputs[k].dtype), ind + "    ")
            out += body
            out += [f"{ind}    out{k}[{index(nin + k)}] = {self.store(v, o.dtype)};"
                    for k, (v, o) in enumerate(zip(values, kernel.outputs))]
            return out + [f"{ind}}}"]

        # two versions of the inner loop: unit strides (vectorizable) and any strides
        lines += [f"{indent}if ({unit}) {{", *loop(False), f"{indent}}} else {{", *loop(True),
                  f"{indent}}}"]
        return "\n".join(lines + closing)

    # --- reductions -----------------------------------------------------------------------

    def init_output(self, kernel: Kernel) -> str:
        o = kernel.outputs[0]
        ident = reduce_identity(kernel.reduce_op, o.dtype)
        value = self.store(self.literal(ident, o.dtype), o.dtype)
        ty = self.storage(o.dtype)
        return "\n".join([
            "static void sg_init_output(char *data, int64_t start, int64_t stop)", "{",
            f"    {ty} *out = ({ty} *)data;",
            f"    for (int64_t i = start; i < stop; i++) out[i] = {value};", "}", ""])

    def fold(self, kernel: Kernel, acc: str, value: str) -> str:
        dtype = kernel.outputs[0].dtype
        return self.scalar(kernel.reduce_op, [acc, value], dtype, dtype)

    def strided_reduce(self, kernel: Kernel) -> str:
        """Fold values into the output: in a register when the last axis is reduced, else
        elementwise into the output row. The output is operand `nin`."""
        nd, last, nin = kernel.ndim, kernel.ndim - 1, len(kernel.inputs)
        out_dtype = kernel.outputs[0].dtype
        acc_type = self.ctype(out_dtype)
        lines, closing = self.strided_head(kernel, self.openmp and 0 not in kernel.axes)
        indent = "    " * nd
        lo, hi = ("start", "stop") if nd == 1 else ("0", f"shape[{last}]")
        moving = [k for k, o in enumerate(kernel.inputs) if not o.bcast[last]]

        def index(k: int, unit: bool) -> str:
            if k < nin and k not in moving:
                return f"o{k}"
            return f"o{k} + j" if unit else f"o{k} + j * s{k}_{last}"

        def value_at(unit: bool, ind: str) -> tuple[list[str], str]:
            body, values = self.body(kernel, lambda k: self.load(
                f"in{k}[{index(k, unit)}]", kernel.inputs[k].dtype), ind)
            return body, values[0]

        simd = {"add": "+", "mul": "*"}.get(kernel.reduce_op)
        float_acc = out_dtype in ("float32", "float64")
        out = f"out0[o{nin}]"
        if last in kernel.axes:
            def version(unit: bool) -> list[str]:
                ind = indent + "    "
                lines = [f"{ind}{acc_type} acc = {self.load(out, out_dtype)};"]
                vectorize = unit and simd is not None and float_acc
                if kernel.reduce_op == "add" and float_acc:
                    # blocks of REDUCE_CHUNK summed apart, then added: pairwise-like accuracy
                    body, value = value_at(unit, ind + "        ")
                    lines += [f"{ind}for (int64_t jb = {lo}; jb < {hi}; jb += {REDUCE_CHUNK}) {{",
                              f"{ind}    const int64_t end = jb + {REDUCE_CHUNK} < {hi} ? "
                              f"jb + {REDUCE_CHUNK} : {hi};",
                              f"{ind}    {acc_type} part = {self.literal(0, out_dtype)};"]
                    if vectorize:  # the pragma allows reassociating this sum
                        lines.append(f"{ind}    #pragma omp simd reduction(+:part)")
                    lines += [f"{ind}    for (int64_t j = jb; j < end; j++) {{", *body,
                              f"{ind}        part = {self.fold(kernel, 'part', value)};",
                              f"{ind}    }}", f"{ind}    acc = acc + part;", f"{ind}}}"]
                else:
                    body, value = value_at(unit, ind + "    ")
                    if vectorize:
                        lines.append(f"{ind}#pragma omp simd reduction({simd}:acc)")
                    lines += [f"{ind}for (int64_t j = {lo}; j < {hi}; j++) {{", *body,
                              f"{ind}    acc = {self.fold(kernel, 'acc', value)};", f"{ind}}}"]
                return lines + [f"{ind}{out} = {self.store('acc', out_dtype)};"]
            unit_cond = " && ".join(f"s{k}_{last} == 1" for k in moving) or "1"
        else:
            def version(unit: bool) -> list[str]:
                ind = indent + "    "
                body, value = value_at(unit, ind + "    ")
                target = f"out0[{index(nin, unit)}]"
                acc = self.load(target, out_dtype)
                return [f"{ind}for (int64_t j = {lo}; j < {hi}; j++) {{", *body,
                        f"{ind}    const {acc_type} acc = {acc};",
                        f"{ind}    {target} = "
                        f"{self.store(self.fold(kernel, 'acc', value), out_dtype)};", f"{ind}}}"]
            unit_cond = " && ".join(f"s{k}_{last} == 1" for k in [*moving, nin])

        lines += [f"{indent}if ({unit_cond}) {{", *version(True), f"{indent}}} else {{",
                  *version(False), f"{indent}}}"]
        return "\n".join(lines + closing)


# --- compile, cache, load ------------------------------------------------------------------


@dataclass
class CompiledKernel:
    """A kernel loaded from its shared library: its entry point and what it came from."""

    kernel: Kernel
    ir: str  # the C source (named `ir` as the LLVM kernels' text, for program.dump())
    path: str  # the shared library
    call: object  # the Python entry point: call(*inputs, *outputs[, part, nparts]) -> int
    cache_hit: bool
    compile_s: float
    keep: list = field(default_factory=list)  # the library and the entry's method table


STATS = {"compiled": 0, "cache_hits": 0}
_COMPILED: dict[tuple[str, bool], CompiledKernel] = {}
_LOCK = threading.Lock()
_ENTRY: list = []  # [library, address of sg_entry], built once per machine, loaded once


class _MethodDef(ctypes.Structure):  # CPython's PyMethodDef
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_new_cfunction = ctypes.pythonapi.PyCFunction_NewEx
_new_cfunction.restype = ctypes.py_object
_new_cfunction.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


def entry_address() -> int:
    """The address of kernels/c_entry.c's `sg_entry` (built and loaded on first use)."""
    if not _ENTRY:
        path, _ = build_shared_library(read_template("c_entry.c"), "sg_entry")
        lib = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)
        _ENTRY[:] = [lib, ctypes.cast(lib.sg_entry, ctypes.c_void_p).value]
    return _ENTRY[1]


def make_entry(kernel: Kernel, info_address: int, library: object) -> tuple[object, list]:
    """The kernel's builtin function (sg_entry with this kernel's info and dtypes in `self`),
    and the objects to keep alive while it exists.

    `self` ends with the method table and the kernel's library, which sg_entry never reads:
    whoever holds the function keeps them alive (a freed table was read by the garbage
    collector while a compiled function still held the entry).
    """
    method = _MethodDef(kernel.name.encode(), entry_address(), METH_FASTCALL, None)
    dtypes = tuple(np.dtype(o.dtype) for o in list(kernel.inputs) + list(kernel.outputs))
    self = (np.ndarray, info_address, *dtypes, method, library, _ENTRY[0])
    return _new_cfunction(ctypes.addressof(method), self, None), [method, self]


def openmp_requested() -> bool:
    """Kernels use OpenMP threads when SYMGRAPH_C_OPENMP=1 (else the driver's thread pool)."""
    return os.environ.get("SYMGRAPH_C_OPENMP", "0") not in ("", "0", "false", "False")


def compile_kernel(kernel: Kernel) -> CompiledKernel:
    """The compiled kernel (built once per process; the library from the disk cache)."""
    openmp = openmp_requested()
    with _LOCK:
        found = _COMPILED.get((kernel.name, openmp))
        if found is not None:
            return found
        t0 = time.perf_counter()
        source = CRenderer(openmp).render(kernel)
        path, hit = build_shared_library(source, kernel.name, openmp)
        lib = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)
        info = ctypes.addressof(ctypes.c_char.in_dll(lib, f"{kernel.name}_info"))
        STATS["cache_hits" if hit else "compiled"] += 1
        call, keep = make_entry(kernel, info, lib)
        compiled = CompiledKernel(kernel, source, str(path), call, hit,
                                  time.perf_counter() - t0, [lib, *keep])
        _COMPILED[(kernel.name, openmp)] = compiled
        return compiled


def available() -> bool:
    """Whether this machine can build C kernels (a compiler and Python's headers)."""
    return toolchain().available
