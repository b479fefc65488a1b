"""The gradient of a Scan: backpropagation through time as another Scan (the adjoint loop).

The adjoint loop visits the forward steps in reverse. Its inner graph is the gradient of the
forward inner graph (recomputing what the step needs), and each kind has an adjoint kind:

forward                          adjoint (backward scan)
read of a sequence          ->   read of the same rows, reversed + scatter of its gradient
state (recurrent output)    ->   read of its history + window of accumulators (the gradient
                                 of its past values; what is left is the initial state's)
nit_sot / per-step outputs  ->   read of the output gradient, reversed
non-sequence                ->   accumulator state (O(1) memory), keep="last"
window / scatter            ->   state / read (so the gradient of a gradient is a Scan too)

Only the forward values the gradient actually uses are read; a forward state that keeps its
final window only (keep="last") is recomputed by a twin loop that keeps every step. Where the
gradient uses a forward inner output that the forward loop records at every step (a state
keeping all steps, a nit_sot), the adjoint reads the recorded row instead of recomputing it.
An output gradient that is zero but for the last step (the gradient of ``out[-1]``) seeds the
adjoint's accumulator, as for keep="last", rather than being read as a sequence of zeros.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from symgraph.graph import Constant, Variable, ancestors, clone_replace, graph_inputs
from symgraph.scan.info import Read, State, Window, split
from symgraph.scan.inner import placeholder
from symgraph.types import DISCRETE_DTYPES, TensorType

_STEP = Read((0,), 0, 0, backward=True)  # one row per step, visited in reverse


def _float(v: Variable) -> bool:
    return v.dtype not in DISCRETE_DTYPES


def _constant_value(v: Variable):
    from symgraph.ops.elemwise import DimShuffle

    while v.owner is not None and isinstance(v.owner.op, DimShuffle):
        v = v.owner.inputs[0]
    return v.data if isinstance(v, Constant) else None


def _is_zero(g) -> bool:
    """True for a missing gradient or one that grad() filled in with zeros_like."""
    if g is None:
        return True
    value = _constant_value(g)
    if value is None and g.owner is not None and getattr(g.owner.op, "scalar_op", None) is not None:
        if g.owner.op.scalar_op.name == "second":
            value = _constant_value(g.owner.inputs[1])
    return value is not None and not np.any(value)


def _last_row_increment(g: Variable | None, out: Variable) -> Variable | None:
    """y when `g` is zeros_like(out) with y added at out[-1] (the gradient of out[-1])."""
    from symgraph.ops.subtensor import IncSubtensor

    node = None if g is None else g.owner
    if node is None or not isinstance(node.op, IncSubtensor) or node.op.idx_list != ("int",):
        return None
    base, y, index = node.inputs
    value = _constant_value(index)
    if value is None or int(value) != -1 or not _is_zero(base) or y.ndim != out.ndim - 1:
        return None
    row = out.type.shape[1:]
    if any(a == 1 and b != 1 for a, b in zip(y.type.shape, row)):
        return None  # y broadcasts over the row: the seed must have the row's own shape
    return y


def _identity_sources(v: Variable) -> list[Variable]:
    """`v` and the variables it merely renames (SpecifyShape inputs): they hold one value."""
    from symgraph.ops.shape import SpecifyShape

    found = [v]
    while v.owner is not None and isinstance(v.owner.op, SpecifyShape):
        v = v.owner.inputs[0]
        found.append(v)
    return found


def _row_type(v: Variable) -> TensorType:
    return TensorType(v.dtype, v.type.shape[1:])


def _sum(terms: list) -> Variable:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def scan_grad(op, inputs: list, outputs: list, output_grads: list) -> list:
    """Gradients of a Scan node's outer inputs (None where disconnected)."""
    info = op.info
    if info.truncate >= 0:
        raise NotImplementedError(
            "the gradient of a truncated backward scan (a gradient of a "
            "gradient taken with truncate_gradient) is not supported"
        )
    return _Adjoint(op, inputs, outputs, output_grads).build()


class _Adjoint:
    """Collects the pieces of the backward Scan, then builds it."""

    def __init__(self, op, inputs: list, outputs: list, output_grads: list):
        from symgraph.ops.math import cast

        info = op.info
        self.op, self.inputs = op, inputs
        self.ins = split(inputs, info.outer_input_sizes())
        self.outs = split(outputs, info.outer_output_sizes())
        grads = [None if _is_zero(g) else cast(g, o.dtype) for g, o in zip(output_grads, outputs)]
        self.gouts = split(grads, info.outer_output_sizes())
        # states whose output gradient is non-zero at the last step only: {k: that gradient}
        self.last_only: dict[int, Variable] = {}
        for k, spec in enumerate(info.states):
            (G,), (out,) = self.gouts["states"][k], self.outs["states"][k]
            y = _last_row_increment(G, out) if spec.keep == "all" and spec.single else None
            if y is not None:
                self.last_only[k] = cast(y, out.dtype)
        self.iin = split(list(op.inner_inputs), info.inner_input_sizes())
        self.iout = split(list(op.inner_outputs), info.inner_output_sizes())
        self.n = self.outs["steps"][0][0] if info.until else inputs[0]
        # the backward scan's pieces: (spec, outer variables, inner variables[, inner outputs])
        self.reads: list = []
        self.states: list = []
        self.windows: list = []
        self.scatters: list = []
        self.nonseqs: list = []
        self.wanted: list = []  # (forward input kind, item, part, backward output kind, item)
        self._twin = None

    # --- helpers ---
    def read(self, outer: list, spec: Read, phs: list | None = None) -> list:
        if phs is None:
            phs = [placeholder(outer[0], _row_type(outer[0])) for _ in spec.taps]
        self.reads.append((spec, list(outer), list(phs)))
        return phs

    def twin(self) -> dict:
        """Outputs of the same loop keeping every step (for histories it did not keep)."""
        if self._twin is None:
            info = self.op.info
            op2 = self.op.with_info(
                states=tuple(replace(s, keep="all") for s in info.states),
                windows=tuple(replace(w, record=True) for w in info.windows),
            )
            outs = op2.make_node(*self.inputs).outputs
            self._twin = split(outs, op2.info.outer_output_sizes())
        return self._twin

    def history(self, kind: str, k: int) -> Variable:
        spec = getattr(self.op.info, kind)[k]
        kept = spec.keep == "all" if kind == "states" else spec.record
        source = self.outs if kept else self.twin()
        return source[kind][k][0 if kind == "states" else 1]

    # --- the three passes ---
    def seeds(self) -> tuple[dict, dict, dict]:
        """Gradients of the forward inner outputs, in terms of backward inner inputs."""
        info = self.op.info
        seeds: dict = {}
        accs: dict = {}
        adjoint_states: dict = {}
        for k, spec in enumerate(info.states):
            (out,) = self.iout["states"][k]
            if not _float(out):
                continue
            acc = placeholder(out, self.iin["states"][k][0].type, f"d({out.name or 'state'})")
            g = acc
            (G,) = self.gouts["states"][k]
            if spec.keep == "all" and G is not None and k not in self.last_only:
                g = acc + self.read([G], _STEP)[0]
            seeds.setdefault(out, []).append(g)
            accs[k] = acc
        for k, (out,) in enumerate(self.iout["nit_sots"]):
            (G,) = self.gouts["nit_sots"][k]
            if _float(out) and G is not None:
                seeds.setdefault(out, []).append(self.read([G], _STEP)[0])
        for k, spec in enumerate(info.windows):
            acc = self.iin["windows"][k][0]
            phs = [placeholder(acc) for _ in spec.taps]
            for c, ph in zip(self.iout["windows"][k], phs):
                seeds.setdefault(c, []).append(ph)
            adjoint_states[k] = phs
        for k, spec in enumerate(info.scatters):
            from symgraph.ops.math import zeros_like

            gs = self.gouts["scatters"][k]
            if all(g is None for g in gs):
                continue
            gs = [zeros_like(o) if g is None else g for g, o in zip(gs, self.outs["scatters"][k])]
            for c, ph in zip(self.iout["scatters"][k], self.read(gs, spec.flipped())):
                seeds.setdefault(c, []).append(ph)
        return seeds, accs, adjoint_states

    def build(self) -> list:
        from symgraph.gradient import grad
        from symgraph.ops.math import zeros_like

        info = self.op.info
        seeds, accs, adjoint_states = self.seeds()
        wrt = [
            v
            for group in ("reads", "states", "windows", "nonseqs")
            for item in self.iin[group]
            for v in item
            if _float(v)
        ]
        grads: dict = {}
        if seeds:
            known = {o: _sum(gs) for o, gs in seeds.items()}
            values = grad(
                None,
                wrt,
                known_grads=known,
                disconnected_inputs="ignore",
                return_disconnected="None",
            )
            grads = {v: g for v, g in zip(wrt, values) if g is not None}
            grads = self.reuse_forward_outputs(grads)

        for k, (ph,) in enumerate(self.iin["nonseqs"]):
            if ph in grads:
                (outer,) = self.ins["nonseqs"][k]
                acc = placeholder(ph, name=f"d({ph.name or 'nonseq'})")
                self.states.append(
                    (State((-1,), True, "last"), [zeros_like(outer)], [acc], acc + grads[ph])
                )
                self.wanted.append(("nonseqs", k, 0, "states", len(self.states) - 1))
        for k, spec in enumerate(info.windows):
            phs = adjoint_states[k]
            acc = self.iin["windows"][k][0]
            g = grads.get(acc)
            g = zeros_like(phs[0]) if g is None else g
            if spec.record and self.gouts["windows"][k][1] is not None:
                g = g + self.read([self.gouts["windows"][k][1]], _STEP)[0]
            G = self.gouts["windows"][k][0]
            init = zeros_like(self.outs["windows"][k][0]) if G is None else G
            self.states.append((State(spec.taps, spec.single, "last"), [init], phs, g))
            if spec.seeded:
                self.wanted.append(("windows", k, 1, "states", len(self.states) - 1))
        for k, spec in enumerate(info.states):
            if k not in accs:
                continue
            pairs = [(t, grads[p]) for t, p in zip(spec.taps, self.iin["states"][k]) if p in grads]
            (G,) = self.gouts["states"][k]
            G = self.last_only.get(k, G)
            seeded = (spec.keep == "last" or k in self.last_only) and G is not None
            if not pairs and not seeded:
                continue
            win = Window(tuple(t for t, _ in pairs), spec.span, spec.single, seeded)
            outer = self.ins["states"][k] + ([G] if seeded else [])
            self.windows.append((win, outer, [accs[k]], [c for _, c in pairs]))
            self.wanted.append(("states", k, 0, "windows", len(self.windows) - 1))
        for k, spec in enumerate(info.reads):
            refs = self.ins["reads"][k]
            pairs = [(t, grads[p]) for t, p in zip(spec.taps, self.iin["reads"][k]) if p in grads]
            if not pairs or not _float(refs[0]):
                continue
            sc = spec.flipped(tuple(t for t, _ in pairs))
            self.scatters.append((sc, refs, [], [c for _, c in pairs]))
            for part in range(len(refs)):
                self.wanted.append(("reads", k, part, "scatters", (len(self.scatters) - 1, part)))
        self.read_forward_values()
        return self.assemble()

    def reuse_forward_outputs(self, grads: dict) -> dict:
        """`grads` reading the forward loop's recorded per-step outputs instead of recomputing.

        A forward state keeping every step (and a nit_sot) holds at row t what its inner
        output computed at step t; the adjoint visits step t at its step n-1-t (_STEP).
        """
        recorded = [
            (self.iout["states"][k][0], self.outs["states"][k][0])
            for k, spec in enumerate(self.op.info.states)
            if spec.keep == "all"
        ]
        recorded += [(o, out) for (o,), (out,) in zip(self.iout["nit_sots"], self.outs["nit_sots"])]
        used = set(ancestors(list(grads.values()), stop=self.op.inner_inputs))
        replace: dict = {}
        for inner, outer in recorded:
            sources = [v for v in _identity_sources(inner) if v in used]
            if sources:
                (row,) = self.read([outer], _STEP)
                replace.update((v, row) for v in sources)
        if not replace:
            return grads
        new, _ = clone_replace(list(grads.values()), replace)
        return dict(zip(grads, new))

    def read_forward_values(self) -> None:
        """Make the forward inner inputs that the gradient uses inputs of the backward scan."""
        info = self.op.info
        outs = [o for *_, o in self.states] + [c for *_, cs in self.windows for c in cs]
        outs += [c for *_, cs in self.scatters for c in cs]
        used = {id(v) for v in graph_inputs(outs)}
        for k, spec in enumerate(info.reads):
            pairs = [(t, p) for t, p in zip(spec.taps, self.iin["reads"][k]) if id(p) in used]
            if pairs:
                self.read(
                    self.ins["reads"][k],
                    spec.flipped(tuple(t for t, _ in pairs)),
                    [p for _, p in pairs],
                )
        for k, spec in enumerate(info.states):
            pairs = [(t, p) for t, p in zip(spec.taps, self.iin["states"][k]) if id(p) in used]
            if pairs:
                hist = Read(
                    tuple(t for t, _ in pairs),
                    -spec.span,
                    0,
                    backward=True,
                    prefix=-1 if spec.single else spec.span,
                )
                self.read(
                    [self.history("states", k)] + self.ins["states"][k], hist, [p for _, p in pairs]
                )
        for k, (acc,) in enumerate(self.iin["windows"]):
            if id(acc) in used:
                self.read([self.history("windows", k)], _STEP, [acc])
        for k, (ph,) in enumerate(self.iin["nonseqs"]):
            if id(ph) in used:
                self.nonseqs.append((self.ins["nonseqs"][k][0], ph))

    def assemble(self) -> list:
        """Build the backward Scan node and map its outputs to the forward inputs."""
        from symgraph.scan.info import ScanInfo
        from symgraph.scan.op import Scan

        info = self.op.info
        if not (self.states or self.windows or self.scatters):
            return [None] * len(self.inputs)
        inner_in = [p for _, _, phs in self.reads for p in phs]
        inner_in += [p for _, _, phs, _ in self.states for p in phs]
        inner_in += [w[2][0] for w in self.windows] + [ph for _, ph in self.nonseqs]
        inner_out = [o for *_, o in self.states] + [c for *_, cs in self.windows for c in cs]
        inner_out += [c for *_, cs in self.scatters for c in cs]
        outer = [self.n] + [v for _, vs, _ in self.reads for v in vs]
        outer += [v for _, vs, _, _ in self.states for v in vs]
        outer += [v for _, vs, _, _ in self.windows for v in vs]
        outer += [v for _, vs, _, _ in self.scatters for v in vs] + [v for v, _ in self.nonseqs]
        binfo = ScanInfo(
            reads=tuple(s for s, _, _ in self.reads),
            states=tuple(s for s, *_ in self.states),
            windows=tuple(w for w, *_ in self.windows),
            scatters=tuple(s for s, *_ in self.scatters),
            n_nonseqs=len(self.nonseqs),
            truncate=info.truncate_gradient,
        )
        name = f"grad_of_{self.op.name}" if self.op.name else "grad_of_scan"
        back = Scan(tuple(inner_in), tuple(inner_out), binfo, self.op.mode, name)
        bouts = split(back.make_node(*outer).outputs, binfo.outer_output_sizes())
        in_pos = split(list(range(len(self.inputs))), info.outer_input_sizes())
        result: list = [None] * len(self.inputs)
        for kind, k, part, bkind, bk in self.wanted:
            if bkind == "scatters":
                value = bouts["scatters"][bk[0]][bk[1]]
            else:
                value = bouts[bkind][bk][0]
            result[in_pos[kind][k][part]] = value
        return result
