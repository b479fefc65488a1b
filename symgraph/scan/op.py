"""The Scan op: a loop whose body is a closed inner graph, compiled once and called per step.

The layout of its inputs and outputs is described by `ScanInfo` (info.py); `perform` is the
numpy loop of loop.py and `L_op` builds the backward Scan of grad.py. Outputs hold the steps
only (as Theano returns them), not the initial states.

Memory and speed: the scan pass (opt/scan.py) switches a state used only as ``out[-1]`` to
keep="last" (no buffer of n steps), hoists loop-invariant inner nodes and drops outputs no one
reads, e.g. the scatter of a sequence gradient that grad() computed because `L_op` cannot
know which gradients are wanted. The backward Scan reads the forward states' history (one
copy) and accumulates non-sequence gradients and window accumulators in O(1) memory each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.scan.info import ScanInfo, split, total
from symgraph.scan.inner import check_closed, compile_inner, infer_inner_shapes
from symgraph.scan.loop import Spares, run_scan
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable


def _compatible(inner: TensorType, outer: TensorType) -> bool:
    return (
        inner.dtype == outer.dtype
        and inner.ndim == outer.ndim
        and all(a is None or b is None or a == b for a, b in zip(inner.shape, outer.shape))
    )


def _row_type(t: TensorType) -> TensorType:
    return TensorType(t.dtype, t.shape[1:])


def _unchecked(out: Variable) -> Variable:
    """A state's step output without the SpecifyShape that scan() put on it: the loop checks
    every step's state against the shape of the initial one (loop.py's store), and an op run by
    its numpy reference at every step costs more than the step's small kernels."""
    from symgraph.ops.shape import SpecifyShape

    while out.owner is not None and isinstance(out.owner.op, SpecifyShape):
        out = out.owner.inputs[0]
    return out


@dataclass(frozen=True)
class Scan(Op):
    """Run `inner_outputs` from `inner_inputs` for n_steps steps (see info.py for the layout).

    `mode` compiles the inner function (None: the default mode); `name` shows in errors.
    """

    inner_inputs: tuple[Variable, ...]
    inner_outputs: tuple[Variable, ...]
    info: ScanInfo
    mode: Any = None
    name: str | None = None

    def __post_init__(self):
        sizes_in, sizes_out = self.info.inner_input_sizes(), self.info.inner_output_sizes()
        if total(sizes_in) != len(self.inner_inputs):
            raise ValueError(
                f"Scan: layout wants {total(sizes_in)} inner inputs, got {len(self.inner_inputs)}"
            )
        if total(sizes_out) != len(self.inner_outputs):
            raise ValueError(
                f"Scan: layout wants {total(sizes_out)} inner outputs, got "
                f"{len(self.inner_outputs)}"
            )
        check_closed(self.inner_outputs, self.inner_inputs, str(self))

    def __str__(self) -> str:
        return f"Scan{{{self.name}}}" if self.name else "Scan"

    __repr__ = __str__

    def with_info(self, **changes) -> Scan:
        """The same loop with some layout fields changed (same inner graph and function)."""
        new = replace(self, info=replace(self.info, **changes))
        if "_fn" in self.__dict__:
            object.__setattr__(new, "_fn", self.__dict__["_fn"])
        return new

    # --- types ---
    def make_node(self, *inputs) -> Apply:
        info = self.info
        inputs = [as_tensor_variable(x) for x in inputs]
        n_steps = inputs[0]
        if n_steps.ndim != 0 or not n_steps.dtype.startswith(("int", "uint")):
            raise TypeError(f"{self}: n_steps must be an integer scalar, got {n_steps.type}")
        outer = split(inputs, info.outer_input_sizes())
        inner = split(list(self.inner_inputs), info.inner_input_sizes())
        for spec, (main, *rest), phs in zip(info.reads, outer["reads"], inner["reads"]):
            self._check(phs, _row_type(main.type), main)
            if rest:
                prefix = rest[0]
                self._check(
                    phs, prefix.type if spec.prefix == -1 else _row_type(prefix.type), prefix
                )
        for spec, (init,), phs in zip(info.states, outer["states"], inner["states"]):
            self._check(phs, init.type if spec.single else _row_type(init.type), init)
        for spec, (ref, *_), phs in zip(info.windows, outer["windows"], inner["windows"]):
            self._check(phs, ref.type if spec.single else _row_type(ref.type), ref)
        for (v,), phs in zip(outer["nonseqs"], inner["nonseqs"]):
            self._check(phs, v.type, v)
        return Apply(self, inputs, self._output_types(n_steps, outer))

    def _check(self, placeholders: list, outer_type: TensorType, var: Variable) -> None:
        for ph in placeholders:
            if not _compatible(ph.type, outer_type):
                raise TypeError(
                    f"{self}: {var}{var.where()} gives {outer_type} to the inner "
                    f"input {ph} of type {ph.type}"
                )

    def _output_types(self, n_steps: Variable, outer: dict) -> list:
        info = self.info
        n = int(n_steps.data) if isinstance(n_steps, Constant) and not info.until else None
        outs = split(list(self.inner_outputs), info.inner_output_sizes())
        types = []
        for spec, (o,) in zip(info.states, outs["states"]):
            if spec.keep == "all":
                types.append(TensorType(o.dtype, (n,) + o.type.shape))
            elif spec.single:
                types.append(o.type)
            else:
                types.append(TensorType(o.dtype, (spec.span,) + o.type.shape))
        for (o,) in outs["nit_sots"]:
            types.append(TensorType(o.dtype, (n,) + o.type.shape))
        for spec, (ref, *_) in zip(info.windows, outer["windows"]):
            types.append(ref.type)
            if spec.record:
                row = ref.type.shape if spec.single else ref.type.shape[1:]
                types.append(TensorType(ref.dtype, (n,) + row))
        for refs in outer["scatters"]:
            types.extend(r.type for r in refs)
        if info.until:
            types.append(TensorType("int64", ()))
        return [t() for t in types]

    # --- the loop ---
    def fn(self):
        """The compiled inner function (compiled at first use, then kept).

        Without a `mode` it is compiled like an outer function by default (config.mode: the
        native backend), since an op cannot see the mode of the function it runs in.
        """
        fn = self.__dict__.get("_fn")
        if fn is None:
            from symgraph.compile.mode import get_mode

            outs = list(self.inner_outputs)
            outs[: len(self.info.states)] = [_unchecked(o) for o in outs[: len(self.info.states)]]
            fn = compile_inner(self.inner_inputs, outs, get_mode(self.mode), True)
            object.__setattr__(self, "_fn", fn)
        return fn

    def compile_ahead(self) -> None:
        """Compile the inner function now: the native program calls this while its own
        kernels build on other threads. Two programs compiling at once on two threads may
        both compile it, harmlessly: the functions are equivalent and one is kept."""
        self.fn()

    def perform(self, node: Apply, inputs: list) -> list:
        fn = self.fn()
        # the inner function has no shared storage and trusts its inputs: call its program
        # directly, skipping Function.__call__'s binding and filtering at every step
        call = fn.program if not fn._storages else lambda args: fn(*args)
        spares = self.__dict__.get("_spares")
        if spares is None:
            spares = Spares()
            object.__setattr__(self, "_spares", spares)
        return run_scan(call, self.info, node, inputs, self.inner_outputs, self._empty_rows, spares)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_fn", None)
        state.pop("_spares", None)
        return state

    # --- shapes ---
    def nit_row_shapes(self, input_shapes: list) -> list[tuple]:
        """The per-step shapes of the nit_sot outputs, from the outer input shapes."""
        info = self.info
        outs = split(list(self.inner_outputs), info.inner_output_sizes())
        if not outs["nit_sots"]:
            return []
        shp = split(list(input_shapes), info.outer_input_sizes())
        rows = []
        for spec, (main, *_) in zip(info.reads, shp["reads"]):
            rows += [tuple(main[1:])] * len(spec.taps)
        for spec, (init,) in zip(info.states, shp["states"]):
            rows += [tuple(init if spec.single else init[1:])] * len(spec.taps)
        for spec, (ref, *_) in zip(info.windows, shp["windows"]):
            rows.append(tuple(ref if spec.single else ref[1:]))
        for (v,) in shp["nonseqs"]:
            rows.append(tuple(v))
        return infer_inner_shapes(self.inner_inputs, rows, [o for (o,) in outs["nit_sots"]])

    def _empty_rows(self, inputs: list) -> list[tuple] | None:
        """Row shapes of the nit_sot outputs of a loop that ran no step (None if unknown)."""
        try:
            shapes = self.nit_row_shapes([np.shape(v) for v in inputs])
            return [tuple(int(d) for d in s) for s in shapes]
        except (NotImplementedError, TypeError):
            return None

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        info = self.info
        if info.until:
            raise NotImplementedError(
                "the length of a scan with an until condition is only known at run time"
            )
        n = node.inputs[0]
        n = int(n.data) if isinstance(n, Constant) else n
        if info.truncate >= 0 and (info.n_nit_sot or any(s.keep == "all" for s in info.states)):
            raise NotImplementedError("infer_shape of a truncated scan with per-step outputs")
        shp = split(list(input_shapes), info.outer_input_sizes())
        nit_shapes = self.nit_row_shapes(input_shapes)
        result = []
        for spec, (init,) in zip(info.states, shp["states"]):
            row = tuple(init if spec.single else init[1:])
            if spec.keep == "all":
                result.append((n,) + row)
            else:
                result.append(row if spec.single else (spec.span,) + row)
        result += [(n,) + tuple(s) for s in nit_shapes]
        for spec, (ref, *_) in zip(info.windows, shp["windows"]):
            result.append(tuple(ref))
            if spec.record:
                result.append((n,) + tuple(ref if spec.single else ref[1:]))
        for refs in shp["scatters"]:
            result.extend(tuple(r) for r in refs)
        return result

    # --- gradients ---
    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.scan.grad import scan_grad

        return scan_grad(self, inputs, outputs, output_grads)
