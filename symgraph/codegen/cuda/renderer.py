"""The CUDA renderer: the C-style base (codegen/cstyle.py) with CUDA's spellings and loops.

What differs from C: kernels are ``extern "C" __global__``, loops are grid-stride loops over
the flat index of the output (UNROLL elements per thread and iteration in the flat kernel,
their loads issued together: one load in flight per thread leaves HBM idle), float16 is
``__half`` (computed in float), erfinv exists, and operand layouts are kernel parameters
rather than a Python entry point. Each elementwise kernel has two versions, as on the CPU:

``<name>_flat(operands..., n)``
    every operand C-contiguous with the output's shape, or one element;
``<name>_strided(operands..., n, geom)``
    any strides: ``geom`` holds the shape and each operand's strides in elements, passed by
    value; a thread turns its flat index into coordinates.

An input of one element (every axis broadcasts) is passed as a pointer and a value: the
kernel reads the pointer when it is not null, else the value, so a host scalar (a shape, a
learning rate) needs no copy to the device. Reductions, softmax, random numbers, im2col / col2im and
max pooling are hand-written templates (kernels/*.cu) behind a few generated lines.
"""

from __future__ import annotations

from typing import ClassVar

from symgraph.codegen.cstyle import (
    C_FALLBACK_OPS,
    C_SCALAR,
    CStyleRenderer,
    Template,
    read_template,
)
from symgraph.codegen.kernel import Kernel, NotLowerable, reduce_identity

UNROLL = 4  # elements per thread and iteration of a flat kernel's main loop
# The accumulator of a reduction: shuffles take 32 and 64 bit values; float16 sums in float.
_ACC = {"bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32",
        "uint16": "uint32", "float16": "float32"}


class CudaRenderer(CStyleRenderer):
    """Kernel IR -> CUDA C++ (compiled by nvcc to a cubin, codegen/cuda/compiler.py)."""

    types: ClassVar[dict[str, str]] = {**CStyleRenderer.types, "float16": "__half"}
    # sigmoid: kernels/cuda_prelude.h's branch-free form (a warp of mixed signs would run
    # both of scalar.h's branches, each an exp and a division)
    scalar_table: ClassVar[dict[str, Template]] = {**C_SCALAR, "erfinv": {"f": "erfinv{f}({0})"},
                                                   "erfcinv": {"f": "erfcinv{f}({0})"},
                                                   "sigmoid": {"f": "sg_cuda_sigmoid{f}({0})"}}
    fallback_ops: ClassVar[frozenset[str]] = C_FALLBACK_OPS - {"erfinv", "erfcinv"}
    restrict: ClassVar[str] = "__restrict__"
    kernel_prefix: ClassVar[str] = 'extern "C" __global__ void __launch_bounds__(SG_BLOCK)'

    def half_to_float(self, expr: str) -> str:
        return f"__half2float({expr})"

    def float_to_half(self, expr: str, src: str = "float32") -> str:
        # from double in one rounding (through float would round twice)
        return f"__double2half({expr})" if src == "float64" else f"__float2half_rn({expr})"

    # --- elementwise ----------------------------------------------------------------------

    def params(self, kernel: Kernel) -> list[str]:
        """The pointer-and-value parameters of the operands, in launch order
        (codegen/cuda/steps.py passes them in this order)."""
        out = []
        for k, o in enumerate(kernel.inputs):
            out.append(f"const {self.storage(o.dtype)} *{self.restrict} in{k}")
            if o.is_scalar:
                out.append(f"const {self.ctype(o.dtype)} in{k}_value")
        nin = len(kernel.inputs)
        out += [f"{self.storage(o.dtype)} *{self.restrict} out{k}"
                for k, o in enumerate(kernel.outputs)]
        assert len(out) == nin + sum(o.is_scalar for o in kernel.inputs) + len(kernel.outputs)
        return out

    def hoisted(self, kernel: Kernel) -> list[str]:
        """Inputs of one element: read once per thread, from the pointer or the value."""
        return [f"    const {self.ctype(o.dtype)} in{k}_0 = in{k} ? "
                f"{self.load(f'in{k}[0]', o.dtype)} : in{k}_value;"
                for k, o in enumerate(kernel.inputs) if o.is_scalar]

    def elemwise(self, kernel: Kernel) -> str:
        """The flat and the strided kernel of an elementwise kernel (no prelude)."""
        if any(o.dtype.startswith("complex") for o in kernel.inputs + kernel.outputs):
            raise NotLowerable("complex numbers")
        name, nd = kernel.name, kernel.ndim
        ops = list(kernel.inputs) + list(kernel.outputs)
        params = ",\n    ".join(self.params(kernel))
        nin = len(kernel.inputs)

        def stores(index, element=None, indent: str = "        ") -> list[str]:
            def load(k: int) -> str:
                o = kernel.inputs[k]
                if o.is_scalar:
                    return f"in{k}_0"
                return self.load(element(k) if element else f"in{k}[{index(k)}]", o.dtype)

            body, values = self.body(kernel, load, indent)
            return body + [f"{indent}out{k}[{index(nin + k)}] = {self.store(v, o.dtype)};"
                           for k, (v, o) in enumerate(zip(values, kernel.outputs))]

        # UNROLL elements per thread and iteration, all their loads issued before any use:
        # several reads in flight per thread is what keeps HBM busy; then the remainder
        arrays = [k for k, o in enumerate(kernel.inputs) if not o.is_scalar]
        unrolled = ["        const int64_t " + ", ".join(
            f"i{u} = i{u - 1} + stride" if u > 1 else "i1 = i + stride"
            for u in range(1, UNROLL)) + ";"]
        for k in arrays:
            unrolled.append(f"        const {self.storage(kernel.inputs[k].dtype)} " + ", ".join(
                f"x{k}_{u} = in{k}[{'i' if u == 0 else f'i{u}'}]" for u in range(UNROLL)) + ";")
        for u in range(UNROLL):
            at = "i" if u == 0 else f"i{u}"
            unrolled += ["        {", *stores(lambda k, at=at: at, lambda k, u=u: f"x{k}_{u}",
                                              "            "), "        }"]
        flat = [f"{self.kernel_prefix}", f"{name}_flat(", f"    {params},",
                "    const int64_t n)", "{", *self.hoisted(kernel),
                "    const int64_t stride = sg_grid_stride();",
                "    int64_t i = sg_thread_index();",
                f"    for (; i + {UNROLL - 1} * stride < n; i += {UNROLL} * stride) {{",
                *unrolled, "    }",
                "    for (; i < n; i += stride) {",
                *stores(lambda k: "i"), "    }", "}", ""]
        strided = [f"struct {name}_geom {{",
                   f"    int64_t shape[{max(nd, 1)}];",
                   f"    int64_t strides[{len(ops)}][{max(nd, 1)}]; /* in elements */", "};",
                   f"{self.kernel_prefix}", f"{name}_strided(", f"    {params},",
                   f"    const int64_t n, const {name}_geom g)", "{", *self.hoisted(kernel),
                   "    const bool narrow = n <= 0xffffffffll; /* 32-bit division: far cheaper */",
                   "    for (int64_t i = sg_thread_index(); i < n; i += sg_grid_stride()) {",
                   f"        int64_t {', '.join(f'c{d}' for d in range(nd)) or 'unused'};"]

        def coordinates(index: str) -> list[str]:  # last axis fastest
            cast = "(uint32_t)" if index == "uint32_t" else ""
            out = [f"            {index} rest = {cast}i;"]
            for d in reversed(range(1, nd)):
                out += [f"            c{d} = rest % {cast}g.shape[{d}];",
                        f"            rest /= {cast}g.shape[{d}];"]
            return out + ["            c0 = rest;"] if nd else []

        if nd:
            strided += ["        if (narrow) {", *coordinates("uint32_t"), "        } else {",
                        *coordinates("int64_t"), "        }"]
        for k, o in enumerate(ops):
            if k < nin and o.is_scalar:
                continue
            terms = [f"c{d} * g.strides[{k}][{d}]" for d in range(nd)
                     if not (k < nin and o.bcast[d])]  # a static broadcast axis adds nothing
            strided.append(f"        const int64_t o{k} = {' + '.join(terms) or '0'};")
        strided += [*stores(lambda k: f"o{k}"), "    }", "}", ""]
        return "\n".join(flat + strided)

    def elemwise_source(self, kernel: Kernel) -> str:
        return "\n".join([self.listing_comment(kernel), read_template("cuda_prelude.h"),
                          self.elemwise(kernel)])

    # --- reductions -----------------------------------------------------------------------

    def reduce(self, kernel: Kernel) -> str:
        """kernels/reduce.cu behind the kernel's types and scalar functions (no prelude)."""
        if kernel.kind != "reduce" or len(kernel.inputs) != 1:
            raise NotLowerable("a reduction of several inputs on the GPU")
        x, out = kernel.inputs[0], kernel.outputs[0]
        if x.dtype.startswith("complex") or out.dtype.startswith("complex"):
            raise NotLowerable("complex numbers")
        acc = _ACC.get(out.dtype, out.dtype)
        body, values = self.body(kernel, lambda k: self.load("x", x.dtype), "    ")
        ident = self.literal(reduce_identity(kernel.reduce_op, out.dtype), out.dtype)
        fold = self.scalar(kernel.reduce_op, ["a", "b"], acc, acc)
        name = kernel.name
        lines = [
            f"#define SG_REDUCE_ROWS {name}_rows", f"#define SG_REDUCE_COLS {name}_cols",
            f"namespace {name} {{",
            f"typedef {self.storage(x.dtype)} sg_in_t;",
            f"typedef {self.storage(out.dtype)} sg_out_t;",
            f"typedef {self.ctype(acc)} sg_acc_t;",
            f"constexpr int SG_KEPT_ND = {kernel.ndim - len(kernel.axes)};",
            f"constexpr int SG_RED_ND = {len(kernel.axes)};",
            "SG_FN sg_acc_t sg_value(sg_in_t x)", "{", *body,
            f"    return {self.cast(values[0], out.dtype, acc)};", "}",
            f"SG_FN sg_acc_t sg_fold(sg_acc_t a, sg_acc_t b) {{ return {fold}; }}",
            f"SG_FN sg_acc_t sg_identity() {{ return {self.cast(ident, out.dtype, acc)}; }}",
            "SG_FN sg_out_t sg_store(sg_acc_t acc)", "{",
            f"    return {self.store(self.cast('acc', acc, out.dtype), out.dtype)};", "}", "",
            read_template("reduce.cu"),
            f"}} /* namespace {name} */", "#undef SG_REDUCE_ROWS", "#undef SG_REDUCE_COLS", "",
        ]
        return "\n".join(lines)

    def reduce_source(self, kernel: Kernel) -> str:
        """A reduction kernel's whole source (``<name>_rows`` and ``<name>_cols``)."""
        return "\n".join([self.listing_comment(kernel), read_template("cuda_prelude.h"),
                          self.reduce(kernel)])

    # --- hand-written kernels -------------------------------------------------------------

    def softmax_source(self, dtype: str, label_dtype: str = "int64") -> str:
        """kernels/softmax.cu for `dtype` (float32 / float64) and labels of `label_dtype`."""
        if dtype not in ("float32", "float64"):
            raise NotLowerable(f"softmax kernels in {dtype}")
        return "\n".join([read_template("cuda_prelude.h"), f"typedef {self.ctype(dtype)} sg_t;",
                          f"typedef {self.ctype(label_dtype)} sg_label_t;",
                          read_template("softmax.cu")])

    def conv_source(self, dtype: str) -> str:
        """kernels/conv.cu (im2col, col2im, max pooling and its gradient) for `dtype`."""
        if dtype not in ("float32", "float64"):
            raise NotLowerable(f"conv2d / pooling kernels in {dtype}")
        return "\n".join([read_template("cuda_prelude.h"), f"typedef {self.ctype(dtype)} sg_t;",
                          read_template("conv.cu")])

    def philox_source(self) -> str:
        return "\n".join([read_template("cuda_prelude.h"), read_template("philox.cu")])
