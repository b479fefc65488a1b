"""The C-family renderer base: the kernel IR's values as C expressions (shared by C and CUDA).

``CStyleRenderer`` prints the body of a kernel (codegen/kernel.py) as one C statement per IR
node, with numpy's semantics: ``C_SCALAR`` has a C expression template for every scalar op of
``SCALAR_OPS`` per kind of compute dtype (float, signed, unsigned, bool), or the op sits on
``C_FALLBACK_OPS`` and its node runs its numpy `perform`. Templates use ``{0}, {1}, ...`` for
the arguments (always plain names or literals, so repeating one is free), ``{T}`` for the C type
of the compute dtype, ``{W}`` for the unsigned type integer arithmetic wraps in (signed overflow
is undefined in C, numpy wraps), ``{f}`` for libm's suffix (``expf`` / ``exp``) and ``{S}`` for the
suffix of the integer helpers of kernels/scalar.h. float16 is computed in float32 and rounded,
as numpy's float16 loops do.

Subclasses (codegen/c.py, codegen/cuda/renderer.py) override the spellings (types, half
conversions, function prefixes) and print the loops around the body.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from symgraph.codegen.kernel import Kernel, Node, NotLowerable, toposort

KERNELS_DIR = Path(__file__).parent / "kernels"

# Special functions with no C (libm / CUDA math) form: numpy / scipy compute them. The complex
# casts never reach a kernel (lowering refuses complex numbers).
C_FALLBACK_OPS = frozenset(
    {"erfinv", "erfcinv", "psi", "tri_gamma", "cast_complex64", "cast_complex128"})

Template = str | dict[str, str] | Callable[..., str]


def _wrap(op: str) -> str:
    """Integer arithmetic in the wide unsigned type, cast back: wraps as numpy does."""
    return f"(({{T}})(({{W}}){{0}} {op} ({{W}}){{1}}))"


def _ints(template: str) -> dict[str, str]:
    return {"i": template, "u": template}


def _float(template: str) -> dict[str, str]:
    return {"f": template}


def _same_for_ints(flt: str, integer: str = "{0}") -> dict[str, str]:
    """Rounding ops: numpy 2 keeps integers (and bools) as they are."""
    return {"f": flt, "i": integer, "u": integer, "b": integer}


_NUMPY_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
                "arccosh": "acosh", "arctanh": "atanh"}

# fmt: off
C_SCALAR: dict[str, Template] = {
    "add": {"f": "({0} + {1})", "i": _wrap("+"), "u": _wrap("+"), "b": "({0} | {1})"},
    "sub": {"f": "({0} - {1})", "i": _wrap("-"), "u": _wrap("-")},
    "mul": {"f": "({0} * {1})", "i": _wrap("*"), "u": _wrap("*"), "b": "({0} & {1})"},
    "true_div": _float("({0} / {1})"),
    "int_div": {"f": "sg_floordiv{f}({0}, {1})", **_ints("sg_floordiv_{S}({0}, {1})")},
    "mod": {"f": "sg_mod{f}({0}, {1})", **_ints("sg_mod_{S}({0}, {1})")},
    "pow": _float("pow{f}({0}, {1})"),
    "arctan2": _float("atan2{f}({0}, {1})"),
    "maximum": {"f": "sg_fmax{f}({0}, {1})", **_ints("({0} > {1} ? {0} : {1})"),
                "b": "({0} | {1})"},
    "minimum": {"f": "sg_fmin{f}({0}, {1})", **_ints("({0} < {1} ? {0} : {1})"),
                "b": "({0} & {1})"},
    "clip": {"f": "sg_fmin{f}(sg_fmax{f}({0}, {1}), {2})",
             **_ints("(({0} > {1} ? {0} : {1}) < {2} ? ({0} > {1} ? {0} : {1}) : {2})"),
             "b": "(({0} | {1}) & {2})"},
    "neg": {"f": "(-{0})", **_ints("(({T})(-({W}){0}))")},
    "identity": "{0}",
    "abs": {"f": "fabs{f}({0})", "i": "({0} < 0 ? (({T})(-({W}){0})) : {0})", "u": "{0}",
            "b": "{0}"},
    "sgn": {"f": "sg_sgn{f}({0})", "i": "(({T})(({0} > 0) - ({0} < 0)))", "u": "(({T})({0} != 0))"},
    "sqr": {"f": "({0} * {0})", **_ints("(({T})(({W}){0} * ({W}){0}))"), "b": "{0}"},
    "floor": _same_for_ints("floor{f}({0})"),
    "ceil": _same_for_ints("ceil{f}({0})"),
    "trunc": _same_for_ints("trunc{f}({0})"),
    "round_half_to_even": _same_for_ints("rint{f}({0})"),  # the default rounding mode: to even
    # perform takes np.sign, which refuses bools: so does this (the node falls back and raises)
    "round_half_away_from_zero": {"f": "sg_round_away{f}({0})", **_ints("{0}")},
    "gammaln": _float("({0} == -{INF} ? {0} : lgamma{f}({0}))"),  # scipy: gammaln(-inf) = -inf
    "sigmoid": _float("sg_sigmoid{f}({0})"),
    "softplus": _float("sg_softplus{f}({0})"),
    "switch": "({0} ? {1} : {2})",
    "second": "{1}",
    "lt": "({0} < {1})", "gt": "({0} > {1})", "le": "({0} <= {1})", "ge": "({0} >= {1})",
    "eq": "({0} == {1})", "neq": "({0} != {1})",  # C's != is true for nan, as numpy's
    "isnan": {"f": "({0} != {0})", "i": "false", "u": "false", "b": "false"},
    "isinf": {"f": "(fabs{f}({0}) == {INF})", "i": "false", "u": "false", "b": "false"},
    "and_": {**_ints("(({T})({0} & {1}))"), "b": "({0} && {1})"},
    "or_": {**_ints("(({T})({0} | {1}))"), "b": "({0} || {1})"},
    "xor": {**_ints("(({T})({0} ^ {1}))"), "b": "({0} != {1})"},
    "invert": {**_ints("(({T})~{0})"), "b": "(!{0})"},
    "real": "{0}",
    "imag": "{ZERO}",
    "conj": "{0}",
}
# fmt: on
for _name in ("sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "exp2", "expm1", "log", "log2",
              "log10", "log1p", "erf", "erfc", "sqrt", *_NUMPY_NAMES):
    C_SCALAR[_name] = _float(f"{_NUMPY_NAMES.get(_name, _name)}{{f}}({{0}})")
for _dtype in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64"):
    # casts are "cast" nodes after lowering; the entry keeps the table complete by name
    C_SCALAR[f"cast_{_dtype}"] = lambda r, args, src, out, _to=_dtype: r.cast(args[0], src, _to)

_WIDE = {8: "uint32_t", 16: "uint32_t", 32: "uint32_t", 64: "uint64_t"}
_INT_SUFFIX = {"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8",
               "uint16": "u16", "uint32": "u32", "uint64": "u64"}


def kind(dtype: str) -> str:
    """'f', 'i', 'u' or 'b': which column of C_SCALAR a compute dtype reads."""
    return "b" if dtype == "bool" else dtype[0]


def read_template(name: str) -> str:
    """A hand-written template of codegen/kernels/ (C, CUDA or a shared header), with its
    ``#include "local.h"`` lines replaced by those files: generated sources stand alone, and
    their cache keys cover every line they compile."""
    lines = []
    for line in (KERNELS_DIR / name).read_text().splitlines():
        match = re.fullmatch(r'\s*#include "([\w.]+)"\s*', line)
        lines.append(read_template(match.group(1)) if match else line)
    return "\n".join(lines) + "\n"


class CStyleRenderer:
    """Prints kernel bodies as C; the loops around them are the subclasses' business."""

    types: ClassVar[dict[str, str]] = {
        "bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
        "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t",
        "uint64": "uint64_t", "float16": "_Float16", "float32": "float", "float64": "double",
    }
    storage_types: ClassVar[dict[str, str]] = {"bool": "uint8_t"}  # numpy's bool is a byte
    scalar_table: ClassVar[dict[str, Template]] = C_SCALAR
    fallback_ops: ClassVar[frozenset[str]] = C_FALLBACK_OPS
    restrict: ClassVar[str] = "restrict"

    # --- spellings ------------------------------------------------------------------------

    def ctype(self, dtype: str) -> str:
        """The C type holding a value of `dtype` in a register."""
        try:
            return self.types[dtype]
        except KeyError:
            raise NotLowerable(f"dtype {dtype}") from None

    def storage(self, dtype: str) -> str:
        """The C type of one array element of `dtype`."""
        return self.storage_types.get(dtype, self.ctype(dtype))

    def half_to_float(self, expr: str) -> str:
        return f"(float){expr}"

    def float_to_half(self, expr: str, src: str = "float32") -> str:
        return f"({self.ctype('float16')})({expr})"

    def literal(self, value, dtype: str) -> str:
        """`value` as a C literal of `dtype`, exact (floats in hex)."""
        if dtype == "bool":
            return "true" if value else "false"
        if dtype.startswith("float"):
            v = float(value)
            if math.isnan(v):
                text = "NAN"
            elif math.isinf(v):
                text = "INFINITY" if v > 0 else "(-INFINITY)"
            elif v == int(v) and abs(v) < 2**53:
                text = repr(v)  # 2.0, -0.0: readable and exact
            else:
                text = v.hex()  # exact: no decimal rounding
            if dtype == "float64":
                return f"((double){text})"
            text = f"((float){text})"
            return self.float_to_half(text) if dtype == "float16" else text
        info = np.iinfo(dtype)
        value = int(value)
        if dtype.startswith("uint"):
            return f"(({self.ctype(dtype)}){value}ULL)"
        if value == info.min and info.bits == 64:
            return f"(({self.ctype(dtype)})(-9223372036854775807LL - 1))"
        return f"(({self.ctype(dtype)}){value}LL)"

    def cast(self, expr: str, src: str, dst: str) -> str:
        """numpy's astype from `src` to `dst` (to bool: != 0, so nan is True)."""
        if src == dst:
            return expr
        if src == "float16":
            return self.cast(self.half_to_float(expr), "float32", dst)
        if dst == "float16":
            wide = expr if src.startswith("float") else f"(double){expr}"
            return self.float_to_half(wide, src if src.startswith("float") else "float64")
        if dst == "bool":
            return f"({expr} != 0)"
        if src.startswith("float") and not dst.startswith("float"):
            # numpy (x86) converts to 8 and 16 bit integers through int32, so negative and
            # large values wrap as they do there; out-of-range values are undefined in numpy too
            if np.dtype(dst).itemsize < 4:
                return f"(({self.ctype(dst)})(int32_t){expr})"
            # and to unsigned ones through int64 (uint64: above 2**63 less 2**63, then the top
            # bit), so negatives wrap; a plain cast is AVX-512's saturating one under
            # -march=native
            if dst == "uint32":
                return f"((uint32_t)(int64_t){expr})"
            if dst == "uint64":
                return f"sg_to_u64((double){expr})"
        return f"(({self.ctype(dst)}){expr})"

    # --- scalar ops -----------------------------------------------------------------------

    def scalar(self, name: str, args: list[str], dtype: str, out: str) -> str:
        """The C expression of scalar op `name` (compute dtype `dtype`, result dtype `out`)."""
        if name in self.fallback_ops:
            raise NotLowerable(f"{name} runs its numpy reference")
        template = self.scalar_table.get(name)
        if template is None:
            raise NotLowerable(f"no C expression for the scalar op {name}")
        if callable(template):
            return template(self, args, dtype, out)
        if dtype == "float16":  # numpy's float16 loops compute in float32 and round
            wide = [a if (name == "switch" and k == 0) else self.half_to_float(a)
                    for k, a in enumerate(args)]  # switch's condition is a bool
            result = self._fill(name, template, wide, "float32", out)
            return self.float_to_half(result) if out == "float16" else result
        return self._fill(name, template, args, dtype, out)

    def _fill(self, name: str, template: Template, args: list[str], dtype: str, out: str) -> str:
        if isinstance(template, dict):
            found = template.get(kind(dtype))
            if found is None:
                raise NotLowerable(f"{name} on {dtype}")
            template = found
        fields = {"T": self.ctype(dtype), "f": "f" if dtype == "float32" else "",
                  "W": _WIDE.get(np.dtype(dtype).itemsize * 8, "uint64_t"),
                  "S": _INT_SUFFIX.get(dtype, ""), "ZERO": self.literal(0, out),
                  "INF": self.literal(math.inf, dtype) if dtype.startswith("float") else ""}
        return template.format(*args, **fields)

    # --- kernel bodies --------------------------------------------------------------------

    def body(self, kernel: Kernel, load: Callable[[int], str], indent: str = "") -> tuple[
            list[str], list[str]]:
        """Statements computing the kernel's values at one index, and the values' names.

        ``load(k)`` is the expression reading input k there (already a register value)."""
        lines: list[str] = []
        names: dict[int, str] = {}
        count = 0
        for n in toposort(kernel.values):
            if n.op == "const":
                names[id(n)] = self.literal(n.arg, n.dtype)  # inline: no statement needed
                continue
            expr = self.value(n, [names[id(s)] for s in n.src], load)
            name = f"v{count}"
            count += 1
            lines.append(f"{indent}const {self.ctype(n.dtype)} {name} = {expr};")
            names[id(n)] = name
        return lines, [names[id(v)] for v in kernel.values]

    def value(self, n: Node, args: list[str], load: Callable[[int], str]) -> str:
        if n.op == "load":
            return load(n.arg)
        if n.op == "cast":
            return self.cast(args[0], n.src[0].dtype, n.dtype)
        dtype = n.src[-1].dtype if n.op == "switch" else n.src[0].dtype
        return self.scalar(n.op, args, dtype, n.dtype)

    def load(self, expr: str, dtype: str) -> str:
        """An element read as a register value (a bool byte as true / false)."""
        return f"({expr} != 0)" if dtype == "bool" else expr

    def store(self, value: str, dtype: str) -> str:
        """A register value as the element stored."""
        return f"({self.storage(dtype)}){value}" if dtype == "bool" else value

    def listing_comment(self, kernel: Kernel) -> str:
        """The kernel's IR listing as a C comment: what the source was printed from."""
        lines = [f" * {line}" for line in kernel.listing().splitlines()]
        return "\n".join([f"/* symgraph kernel {kernel.name}", *lines, " */"])
