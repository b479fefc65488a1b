"""The per-function driver of the cuda backend: steps in order, values where they live.

A value is a DeviceArray (GPU) or a numpy value (host). Each step pulls its inputs where it
needs them through a ``_Context``; the program makes the copies, caches them for the rest of
the call, and counts them by purpose in the driver (``driver.copies``) and per call here
(``last_copies``):

- ``input``: function inputs (a minibatch), copied in once per call when a GPU step reads them;
- ``output``: outputs copied back (unless ``device_outputs`` asks for DeviceArrays);
- ``shared``: shared variables. Floating-point ones that a GPU step reads move to the device
  at compile time and stay: their storage holds the DeviceArray, update rules write it in
  place or swap in the new one, so a training step copies none (0 per call after the first);
- ``constant``: graph constants, copied once and kept;
- ``host-op``: values crossing to or from steps that run on the host (ops with no lowering:
  ``host_nodes`` lists them).

Steps that overwrite a device-resident shared variable in place run after all others (as the
graph's dependencies allow): they allocate nothing, so running out of GPU memory leaves every
shared variable unchanged.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import Any

import numpy as np

from symgraph.codegen.cuda import blas, steps_conv, steps_nnet  # noqa: F401 (they register lowerings)
from symgraph.codegen.cuda.driver import DeviceOutOfMemory, get_driver
from symgraph.codegen.cuda.elemwise import _Loadable, load_all
from symgraph.codegen.cuda.steps import HostStep, ShapeStep, Step, lower
from symgraph.codegen.cuda.storage import DeviceArray, take_buffer, to_device
from symgraph.codegen.python import node_error
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant
from symgraph.shared import SharedVariable

FLOATS = ("float16", "float32", "float64")


class _Context:
    """What a step sees of its inputs during one call (see the module docstring)."""

    __slots__ = ("program", "vals", "other", "ins")

    def __init__(self, program: CudaProgram, vals: list, other: dict, ins: list[int]):
        self.program, self.vals, self.other, self.ins = program, vals, other, ins

    def value(self, k: int) -> Any:
        return self.vals[self.ins[k]]

    def device(self, k: int) -> DeviceArray:
        slot = self.ins[k]
        v = self.vals[slot]
        if isinstance(v, DeviceArray):
            return v
        return self.program.upload(slot, v, self.other)

    def host(self, k: int) -> Any:
        slot = self.ins[k]
        v = self.vals[slot]
        if not isinstance(v, DeviceArray):
            return v
        return self.program.download(slot, v, self.other)

    def known_host(self, k: int) -> Any:
        """The host version if there is one already (never copies), else None."""
        slot = self.ins[k]
        v = self.vals[slot]
        return self.other.get(slot) if isinstance(v, DeviceArray) else v


def schedule(fg: FunctionGraph, deferred: set[Apply]) -> list[Apply]:
    """fg's topological order with the `deferred` nodes as late as their dependencies allow."""
    order = fg.toposort()
    index = {node: k for k, node in enumerate(order)}
    users: dict[Apply, list[Apply]] = {node: [] for node in order}
    waiting = {}
    for node in order:
        parents = {v.owner for v in node.inputs if v.owner is not None and v.owner in index}
        waiting[node] = len(parents)
        for p in parents:
            users[p].append(node)
    ready = [(node in deferred, index[node], node) for node in order if not waiting[node]]
    heapq.heapify(ready)
    out = []
    while ready:
        _, _, node = heapq.heappop(ready)
        out.append(node)
        for user in users[node]:
            waiting[user] -= 1
            if not waiting[user]:
                heapq.heappush(ready, (user in deferred, index[user], user))
    return out if len(out) == len(order) else order  # (a cycle cannot happen: keep fg's order)


class CudaProgram:
    """The compiled function: ``program(list_of_input_values) -> list_of_outputs``."""

    def __init__(self, fg: FunctionGraph, name: str | None = None,
                 device_outputs: list[bool] | None = None):
        self.drv = get_driver()
        self.fgraph, self.name = fg, name
        slots: dict[Any, int] = {}
        self.template: list = []
        self.purpose: list[str] = []

        def slot(v, purpose: str = "host-op") -> int:
            if v not in slots:
                slots[v] = len(self.template)
                self.template.append(v.data if isinstance(v, Constant) else None)
                self.purpose.append("constant" if isinstance(v, Constant) else purpose)
            return slots[v]

        for v in fg.inputs:
            slot(v, "shared" if isinstance(v, SharedVariable) else "input")
        self.n_inputs = len(fg.inputs)
        built = {node: lower(node.op, node) or HostStep(node) for node in fg.toposort()}
        self.resident = self._residents(fg, built)
        deferred = {node for node in built if any(
            fg.inputs.index(node.inputs[i]) in self.resident
            for outs in getattr(node.op, "destroy_map", {}).values() for i in outs
            if node.inputs[i] in fg.inputs)}
        self.steps: list[tuple[Step, list[int], list[int]]] = []
        for node in schedule(fg, deferred):
            ins = [slot(v) for v in node.inputs]
            self.steps.append((built[node], ins, [slot(v) for v in node.outputs]))
        self.output_slots = [slot(v) for v in fg.outputs]
        self.updates = dict(getattr(fg, "update_mapping", None) or {})
        self.device_outputs = list(device_outputs or [False] * len(fg.outputs))
        load_all([k for step, _, _ in self.steps for k in _kernels(step)])  # one nvcc call
        self.const_device: dict[int, DeviceArray] = {}
        self.input_buffers: dict[int, list] = {}
        self.last_copies: Counter = Counter()
        for k, container in self.resident.items():  # move once; stay there
            if not isinstance(container.value, DeviceArray):
                container.value = to_device(container.value, "shared",
                                            f"shared variable {fg.inputs[k]}")

    @staticmethod
    def _residents(fg: FunctionGraph, built: dict[Apply, Step]) -> dict[int, Any]:
        """Input position -> storage of the float shared variables that a GPU step reads or
        that an update writes (so results stay where they are made)."""
        updated = set((getattr(fg, "update_mapping", None) or {}).values())
        out = {}
        for k, v in enumerate(fg.inputs):
            if not isinstance(v, SharedVariable) or v.dtype not in FLOATS:
                continue
            readers = [client for client, _ in fg.clients.get(v, []) if isinstance(client, Apply)]
            if k in updated or any(built[r].device for r in readers if r in built):
                out[k] = v.container
        return out

    # --- copies ---------------------------------------------------------------------------

    def upload(self, slot: int, value: Any, other: dict) -> DeviceArray:
        found = other.get(slot)
        if isinstance(found, DeviceArray):
            return found
        if slot in self.const_device:
            return self.const_device[slot]
        if self.purpose[slot] == "input":  # the minibatch: into the buffer of the last call
            host = np.ascontiguousarray(value)
            buffers = self.input_buffers.setdefault(slot, [None, None])
            if buffers[0] is not None and buffers[0].dtype != host.dtype:
                buffers[:] = [None, None]
            dev = take_buffer(buffers, 0, host.shape, host.dtype, "a function input")
            if host.nbytes:
                self.drv.htod(dev.ptr, host, "input")
        else:
            dev = to_device(value, self.purpose[slot], "a value")
        self.last_copies[self.purpose[slot]] += 1
        if self.purpose[slot] == "constant":
            self.const_device[slot] = dev
        other[slot] = dev
        return dev

    def download(self, slot: int, value: DeviceArray, other: dict) -> np.ndarray:
        found = other.get(slot)
        if found is not None and not isinstance(found, DeviceArray):
            return found
        host = value.get(self.purpose[slot])
        self.last_copies[self.purpose[slot]] += 1
        other[slot] = host
        return host

    # --- a call ---------------------------------------------------------------------------

    def __call__(self, values: list) -> list:
        vals = self.template.copy()
        vals[: self.n_inputs] = values
        other: dict[int, Any] = {}
        self.last_copies = Counter()
        for k, container in self.resident.items():
            if type(vals[k]) is not DeviceArray:  # first use, or a set_value since
                vals[k] = container.value = self.upload(k, vals[k], other)
        ctx = _Context(self, vals, other, None)  # one per call: a step sees it through .ins
        for step, ins, outs in self.steps:
            ctx.ins = ins
            try:
                results = step.run(ctx)
            except DeviceOutOfMemory as exc:
                raise DeviceOutOfMemory(
                    f"{exc}, computing {step.node} in function {self.name or '(unnamed)'}; "
                    "shared variables are unchanged") from None
            except Exception as exc:
                raise node_error(step.node, exc, [vals[i] for i in ins]) from exc
            if len(outs) == 1:
                vals[outs[0]] = results[0]
            else:
                for o, r in zip(outs, results):
                    vals[o] = r
        return [self._output(p, s, vals, other) for p, s in enumerate(self.output_slots)]

    def _output(self, position: int, slot: int, vals: list, other: dict) -> Any:
        v = vals[slot]
        target = self.updates.get(position)
        if target is not None:  # an update: where its shared variable lives
            if target in self.resident:
                if isinstance(v, DeviceArray):
                    return v
                self.last_copies["shared"] += 1  # made on the host (an op with no lowering)
                return to_device(v, "shared", "an update")
            purpose = "shared"
        elif self.device_outputs[position]:
            return v
        else:
            purpose = "output"
        if not isinstance(v, DeviceArray):
            return v
        self.last_copies[purpose] += 1
        return v.get(purpose)

    # --- reports --------------------------------------------------------------------------

    @property
    def host_nodes(self) -> list[Apply]:
        """Nodes whose numpy `perform` runs on the host (no CUDA lowering)."""
        return [step.node for step, _, _ in self.steps
                if isinstance(step, HostStep) and not isinstance(step, ShapeStep)]

    @property
    def fallback_nodes(self) -> int:
        return len(self.host_nodes)

    def describe(self) -> str:
        """Where each node runs, and the last call's copies: what a person checks first."""
        lines = [f"cuda program {self.name or ''} on {self.drv.name}:"]
        for step, _, _ in self.steps:
            where = "GPU " if step.device else f"host ({getattr(step, 'why', '')})"
            lines.append(f"  {where:<28} {step.node}")
        copies = ", ".join(f"{k}={v}" for k, v in sorted(self.last_copies.items())) or "none"
        resident = [str(self.fgraph.inputs[k]) for k in self.resident]
        lines += [f"  shared variables on the GPU: {', '.join(resident) or 'none'}",
                  f"  host<->device copies in the last call: {copies}"]
        return "\n".join(lines)

    def dump(self) -> str:
        """Every generated CUDA source of this program."""
        sources = [k.source for step, _, _ in self.steps for k in _kernels(step)]
        return "\n\n".join([self.describe(), *sources])


def _kernels(step: Step) -> list:
    """The generated kernels a step launches (a FusedReduce step has two)."""
    parts = [step, getattr(step, "elem", None), getattr(step, "reduce", None)]
    return [p.kernel for p in parts if isinstance(getattr(p, "kernel", None), _Loadable)]
