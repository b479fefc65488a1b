"""A Scan node taken apart into items (one per read, state, output ...) that rewrites edit.

`ScanParts.of(node)` lists, per kind of info.py's layout, each item's spec, outer variables,
inner variables and outer outputs; `build()` makes the Scan node of the edited parts and
returns, for each outer output of the original node still present, its new variable. An item
removed from a list disappears from the loop; an inner input no longer read may be dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from symgraph.graph import Apply, Variable, ancestors, clone_replace
from symgraph.scan.info import ScanInfo, split


@dataclass
class Item:
    """One read / state / nit_sot / window / scatter / non-sequence of a Scan node."""

    spec: Any  # Read, State, Window (None for a nit_sot or non-sequence)
    outer: list  # outer inputs
    inner_in: list  # inner inputs (placeholders)
    inner_out: list  # inner outputs
    outs: list  # outer outputs (None where the node has none yet)


@dataclass
class ScanParts:
    op: Any
    n_steps: Variable
    items: dict[str, list[Item]] = field(default_factory=dict)
    until: tuple | None = None  # (inner condition, outer steps output)

    @classmethod
    def of(cls, node: Apply) -> ScanParts:
        op, info = node.op, node.op.info
        ins = split(node.inputs, info.outer_input_sizes())
        iin = split(list(op.inner_inputs), info.inner_input_sizes())
        iout = split(list(op.inner_outputs), info.inner_output_sizes())
        outs = split(node.outputs, info.outer_output_sizes())
        items: dict[str, list[Item]] = {}
        items["reads"] = [
            Item(s, o, i, [], []) for s, o, i in zip(info.reads, ins["reads"], iin["reads"])
        ]
        items["states"] = [
            Item(s, o, i, io, oo)
            for s, o, i, io, oo in zip(
                info.states, ins["states"], iin["states"], iout["states"], outs["states"]
            )
        ]
        items["nit_sots"] = [
            Item(None, [], [], io, oo) for io, oo in zip(iout["nit_sots"], outs["nit_sots"])
        ]
        items["windows"] = [
            Item(s, o, i, io, oo)
            for s, o, i, io, oo in zip(
                info.windows, ins["windows"], iin["windows"], iout["windows"], outs["windows"]
            )
        ]
        items["scatters"] = [
            Item(s, o, [], io, oo)
            for s, o, io, oo in zip(
                info.scatters, ins["scatters"], iout["scatters"], outs["scatters"]
            )
        ]
        items["nonseqs"] = [
            Item(None, o, i, [], []) for o, i in zip(ins["nonseqs"], iin["nonseqs"])
        ]
        until = (iout["until"][0][0], outs["steps"][0][0]) if info.until else None
        return cls(op, ins["n_steps"][0][0], items, until)

    def inner_outputs(self) -> list[Variable]:
        outs = [
            v
            for kind in ("states", "nit_sots", "windows", "scatters")
            for it in self.items[kind]
            for v in it.inner_out
        ]
        return outs + ([self.until[0]] if self.until else [])

    def substitute(self, swap: dict[Variable, Variable]) -> None:
        """Inner outputs rebuilt with the inner variables of `swap` replaced."""
        outs = self.inner_outputs()
        new, _ = clone_replace(outs, swap)
        pos = 0
        for kind in ("states", "nit_sots", "windows", "scatters"):
            for it in self.items[kind]:
                it.inner_out = new[pos : pos + len(it.inner_out)]
                pos += len(it.inner_out)
        if self.until:
            self.until = (new[pos], self.until[1])

    def used_inner_inputs(self) -> set[int]:
        """ids of the inner inputs that the inner outputs read."""
        return {id(v) for v in ancestors(self.inner_outputs())}

    def drop_unread(self) -> bool:
        """Remove reads and non-sequences whose inner inputs nothing reads; True if any."""
        used = self.used_inner_inputs()
        changed = False
        kept_reads = []
        for it in self.items["reads"]:
            pairs = [(t, p) for t, p in zip(it.spec.taps, it.inner_in) if id(p) in used]
            if len(pairs) != len(it.inner_in):
                changed = True
                if not pairs:
                    continue
                it.spec = replace(it.spec, taps=tuple(t for t, _ in pairs))
                it.inner_in = [p for _, p in pairs]
            kept_reads.append(it)
        kept_nonseqs = [it for it in self.items["nonseqs"] if id(it.inner_in[0]) in used]
        changed |= len(kept_nonseqs) != len(self.items["nonseqs"])
        self.items["reads"], self.items["nonseqs"] = kept_reads, kept_nonseqs
        return changed

    def build(self) -> tuple[Apply, dict[Variable, Variable]]:
        """The Scan node of these parts, and {old outer output: new outer output}."""
        from symgraph.scan.op import Scan

        it = self.items
        info = replace(
            self.op.info,
            reads=tuple(i.spec for i in it["reads"]),
            states=tuple(i.spec for i in it["states"]),
            n_nit_sot=len(it["nit_sots"]),
            windows=tuple(i.spec for i in it["windows"]),
            scatters=tuple(i.spec for i in it["scatters"]),
            n_nonseqs=len(it["nonseqs"]),
        )
        inner_in = [
            v
            for kind in ("reads", "states", "windows", "nonseqs")
            for i in it[kind]
            for v in i.inner_in
        ]
        outer = [self.n_steps] + [
            v
            for kind in ("reads", "states", "windows", "scatters", "nonseqs")
            for i in it[kind]
            for v in i.outer
        ]
        op = Scan(tuple(inner_in), tuple(self.inner_outputs()), info, self.op.mode, self.op.name)
        node = op.make_node(*outer)
        new = split(node.outputs, ScanInfo.outer_output_sizes(info))
        mapping: dict[Variable, Variable] = {}
        for kind in ("states", "nit_sots", "windows", "scatters"):
            for item, outs in zip(it[kind], new[kind]):
                for old, out in zip(item.outs, outs):
                    if old is not None:
                        mapping[old] = out
        if self.until:
            mapping[self.until[1]] = new["steps"][0][0]
        return node, mapping
