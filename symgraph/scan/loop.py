"""The loop of a Scan node (its `perform`): per-step slicing, buffers and accumulators.

One small class per kind of input or output (see info.py). Each binds its per-step inner
inputs into one argument list that lives for the whole loop, and stores the inner program's
outputs. Everything the loop writes is allocated before the first step (or reused from the
last call, see Spares): per-step states go straight into rows of the output buffer, a state
that keeps its last value only cycles through span + 1 rows, gradient accumulators through
span + 1 arrays. Results of the inner program are copied out within the step, so the program
may reuse its output buffers at the next step.
"""

from __future__ import annotations

import sys
from functools import partial

import numpy as np

from symgraph.graph import Apply, Variable
from symgraph.scan.info import Read, ScanInfo, State, Window, split

_GROW_FROM = 16  # first allocation of a while-loop buffer; it doubles when full


def _label(var: Variable) -> str:
    return f"{var.name or var}{var.where()}"


def _row_view(arr: np.ndarray, i: int) -> np.ndarray:
    """Row `i` of `arr` as an array view (a 0-d array for a vector, not a numpy scalar)."""
    return arr[i, ...] if arr.ndim == 1 else arr[i]


class _Rows:
    """The rows that a Read (or a scatter) touches, in a virtual prefix ++ main sequence."""

    def __init__(self, spec: Read, main: np.ndarray, prefix, n: int, var: Variable, what: str):
        self.spec, self.main, self.prefix, self.n = spec, main, prefix, n
        self.n_prefix = spec.prefix_rows if spec.prefix else 0
        if spec.prefix > 0 and prefix.shape[0] < spec.prefix:
            raise ValueError(
                f"scan: the initial state {_label(var)} has {prefix.shape[0]} rows, "
                f"but its taps need {spec.prefix}"
            )
        length = self.n_prefix + main.shape[0]
        need = n + spec.span
        if length < need:
            taps = list(spec.taps)
            raise ValueError(
                f"scan: {what} {_label(var)} has {main.shape[0]} elements, but {n} steps with "
                f"taps {taps} need {need - self.n_prefix}. Give a longer sequence or fewer "
                "n_steps (every sequence must cover all the steps)."
            )
        self.start = length - need if spec.align_end else 0

    def position(self, t: int, tap: int) -> int:
        p = self.n - 1 - t if self.spec.backward else t
        return self.start + p + tap - self.spec.lo


class _Sequence(_Rows):
    """A read: per-step views of the sequence, one per tap, bound to consecutive slots."""

    def __init__(self, spec, main, prefix, n, var, slot: int):
        super().__init__(spec, main, prefix, n, var, "sequence")
        self.slot = slot
        # without a prefix, tap k of step t is row offset + sign * t of `main`
        sign = -1 if spec.backward else 1
        self.rows = None
        if not spec.prefix:
            self.rows = [(slot + k, self.position(0, tap), sign) for k, tap in enumerate(spec.taps)]
        self.vector = main.ndim == 1

    def bind(self, t: int, args: list) -> None:
        main = self.main
        if self.rows is not None:
            if self.vector:
                for slot, offset, sign in self.rows:
                    args[slot] = main[offset + sign * t, ...]
            else:
                for slot, offset, sign in self.rows:
                    args[slot] = main[offset + sign * t]
            return
        for k, tap in enumerate(self.spec.taps):
            a = self.position(t, tap)
            if a >= self.n_prefix:
                args[self.slot + k] = _row_view(main, a - self.n_prefix)
            elif self.spec.prefix == -1:
                args[self.slot + k] = self.prefix
            else:
                args[self.slot + k] = _row_view(self.prefix, a)


class _Scatter(_Rows):
    """A scatter: per-step contributions summed into a zero buffer shaped like the reference."""

    def __init__(self, spec: Read, main: np.ndarray, prefix, n: int, var: Variable):
        super().__init__(spec, main, prefix, n, var, "the gradient of sequence")
        self.main_buf = np.zeros(main.shape, main.dtype)
        self.prefix_buf = None if prefix is None else np.zeros(np.shape(prefix), main.dtype)

    def add(self, t: int, contributions: list) -> None:
        for tap, c in zip(self.spec.taps, contributions):
            a = self.position(t, tap)
            if a >= self.n_prefix:
                _accumulate(self.main_buf, a - self.n_prefix, c)
            elif self.spec.prefix == -1:
                _check_shape(self.prefix_buf, c)
                self.prefix_buf += c
            else:
                _accumulate(self.prefix_buf, a, c)

    def results(self) -> list:
        return [self.main_buf] + ([] if self.prefix_buf is None else [self.prefix_buf])


def _check_shape(target: np.ndarray, c) -> None:
    if np.shape(c) != target.shape:
        raise ValueError(
            f"scan gradient: a contribution of shape {np.shape(c)} does not match "
            f"the accumulator of shape {target.shape}"
        )


def _accumulate(buf: np.ndarray, row: int, c) -> None:
    target = _row_view(buf, row)
    _check_shape(target, c)
    target += c


class Spares:
    """The per-step output buffers of a loop's last run, for the next run to write again.

    A fresh buffer of n rows costs its page faults at every call (as much as the copies into
    it); one that nobody holds any more (no result, no view of it) is reused instead.
    """

    def __init__(self):
        self.arrays: dict = {}

    def take(self, key, shape: tuple, dtype: str) -> np.ndarray:
        arr = self.arrays.pop(key, None)
        # referenced here and by getrefcount's argument only: no one else can see it
        if arr is not None and arr.shape == shape and arr.dtype == dtype:
            if sys.getrefcount(arr) == 2:
                return arr
        return np.empty(shape, dtype)

    def keep(self, key, buffer: _Buffer | None) -> None:
        if buffer is not None and buffer.arr is not None and not buffer.growable:
            self.arrays[key] = buffer.arr


class _Buffer:
    """Rows of an output, preallocated for n steps (grown by doubling in a while loop)."""

    def __init__(
        self, n: int, growable: bool, dtype: str, row_shape: tuple | None = None, take=None
    ):
        self.n, self.growable, self.dtype, self.take = n, growable, dtype, take
        self.arr = None if row_shape is None else self._alloc(row_shape)

    def _alloc(self, row_shape: tuple) -> np.ndarray:
        if self.take is not None and not self.growable:
            return self.take((self.n,) + tuple(row_shape), np.dtype(self.dtype))
        cap = min(self.n, _GROW_FROM) if self.growable else self.n
        return np.empty((cap,) + tuple(row_shape), self.dtype)

    def set(self, t: int, value, what: str) -> np.ndarray:
        arr = self.arr
        if type(value) is np.ndarray and arr is not None and arr.ndim > 1 and t < arr.shape[0]:
            row = arr[t]  # the common step, checked as below with fewer calls
            if row.shape == value.shape:
                row[...] = value
                return row
        if arr is None:
            arr = self.arr = self._alloc(np.shape(value))
        if np.shape(value) != arr.shape[1:]:
            raise ValueError(
                f"scan: {what} has shape {np.shape(value)} at step {t}, but shape "
                f"{arr.shape[1:]} before; every step must give the same shape"
            )
        if t >= arr.shape[0]:
            bigger = np.empty((min(self.n, 2 * arr.shape[0]),) + arr.shape[1:], self.dtype)
            bigger[: arr.shape[0]] = arr
            arr = self.arr = bigger
        row = _row_view(arr, t)
        row[...] = value
        return row

    def result(self, n_done: int, empty_row: tuple) -> np.ndarray:
        if self.arr is None:
            return np.zeros((0,) + empty_row, self.dtype)
        if n_done < self.arr.shape[0]:
            return self.arr[:n_done].copy()  # a while loop stopped early: free the rest
        return self.arr


class _StateRun:
    """A recurrent output: its last `span` values feed the next step."""

    def __init__(
        self,
        spec: State,
        init: np.ndarray,
        n: int,
        growable: bool,
        dtype: str,
        var: Variable,
        out: Variable,
        slot: int,
        take=None,
    ):
        self.spec, self.what = spec, f"the step output {_label(out)}"
        if spec.single:
            self.recent, self.row_shape = [init], np.shape(init)
        else:
            if init.ndim == 0 or init.shape[0] < spec.span:
                rows = init.shape[0] if init.ndim else 0
                raise ValueError(
                    f"scan: the initial state {_label(var)} of {self.what} has {rows} rows, "
                    f"but taps {list(spec.taps)} need {spec.span} (one per past step)"
                )
            self.recent = [_row_view(init, i) for i in range(spec.span)]
            self.row_shape = init.shape[1:]
        self.dtype = dtype
        span = len(self.recent)
        self.slots = [(slot + k, span + tap) for k, tap in enumerate(spec.taps)]
        self.buffer = None
        if spec.keep == "all":
            self.buffer = _Buffer(n, growable, dtype, self.row_shape, take)
        else:  # the last value only: cycle through span + 1 rows, none read while written
            ring = np.empty((span + 1,) + tuple(self.row_shape), dtype)
            self.ring = [_row_view(ring, i) for i in range(span + 1)]

    def bind(self, t: int, args: list) -> None:
        recent = self.recent
        for slot, i in self.slots:
            args[slot] = recent[i]

    def store(self, t: int, value) -> None:
        shape = value.shape if type(value) is np.ndarray else np.shape(value)
        if shape != self.row_shape:
            raise ValueError(
                f"scan: {self.what} has shape {np.shape(value)} at step {t}, but its initial "
                f"state (outputs_info) has shape {self.row_shape}; a recurrent output must "
                "keep the shape of its initial state"
            )
        if self.buffer is not None:
            row = self.buffer.set(t, value, self.what)
        elif self.spec.single and type(value) is np.ndarray and value.dtype == self.dtype:
            # held, not copied: while we hold it the program writes into its spare buffer
            # (an accumulator the size of a weight matrix is not copied at every step)
            row = value
        else:
            row = self.ring[t % len(self.ring)]
            row[...] = value
        recent = self.recent
        del recent[0]
        recent.append(row)

    def result(self, n_done: int) -> np.ndarray:
        if self.buffer is not None:
            return self.buffer.result(n_done, self.row_shape)
        if self.spec.single:
            return np.array(self.recent[-1], dtype=self.dtype)
        return np.array(np.stack(self.recent), dtype=self.dtype)


class _WindowRun:
    """Accumulators of a window: slot i holds the accumulator of step j + i at step j.

    The accumulator consumed at a step (the inner input, which a contribution may alias)
    becomes the spare of the next step, so no accumulator is written while it is read.
    """

    def __init__(self, spec: Window, ref: np.ndarray, seed, n: int, dtype: str, growable: bool):
        self.spec, self.ref, self.dtype = spec, ref, dtype
        self.row_shape = ref.shape if spec.single else ref.shape[1:]
        if not spec.single and ref.shape[0] < spec.span:
            raise ValueError(
                f"scan gradient: initial state has {ref.shape[0]} rows, taps need {spec.span}"
            )
        self.slots = [np.zeros(self.row_shape, dtype) for _ in range(spec.span)]
        self.spare = np.empty(self.row_shape, dtype)
        if spec.seeded:
            for i in range(spec.span):
                row = seed if spec.single else seed[spec.span - 1 - i]
                _check_shape(self.slots[i], row)
                self.slots[i] += row
        self.history = _Buffer(n, growable, dtype, self.row_shape) if spec.record else None
        # tap -> index of the accumulator it adds to, once the consumed one is dropped
        self.targets = [-tap - 1 for tap in spec.taps]
        self.last = spec.span - 1  # index of the fresh accumulator

    def current(self, t: int) -> np.ndarray:
        if self.history is not None:
            self.history.set(t, self.slots[0], "a gradient accumulator")
        return self.slots[0]

    def advance(self, contributions: list) -> None:
        slots = self.slots
        consumed = slots.pop(0)
        fresh = self.spare
        slots.append(fresh)
        written = False
        for idx, c in zip(self.targets, contributions):
            if idx == self.last:
                _check_shape(fresh, c)
                fresh[...] = c
                written = True
        if not written:
            fresh.fill(0)
        for idx, c in zip(self.targets, contributions):
            if idx != self.last:
                target = slots[idx]
                _check_shape(target, c)
                target += c
        self.spare = consumed

    def results(self, truncated: bool, n_done: int) -> list:
        out = np.zeros(self.ref.shape, self.dtype)
        if not truncated:
            if self.spec.single:
                out[...] = self.slots[0]
            else:
                out[: self.spec.span] = np.stack(self.slots[::-1])
        extra = [self.history.result(n_done, self.row_shape)] if self.history else []
        return [out] + extra


def run_scan(
    call,
    info: ScanInfo,
    node: Apply,
    inputs: list,
    inner_outputs: tuple,
    empty_rows,
    spares: Spares | None = None,
) -> list:
    """Run the loop of a Scan node on numpy `inputs`; return its outer outputs.

    `call(args) -> results` is the compiled inner program (inputs and outputs as lists);
    `spares` holds the per-step buffers of the last run, reused where no one holds them.
    """
    spares = spares or Spares()
    n = int(inputs[0])
    if n < 0:
        raise ValueError(f"scan: n_steps must be >= 0, got {n} ({_label(node.inputs[0])})")
    steps = n if info.truncate < 0 else min(n, info.truncate)
    ins = split(inputs, info.outer_input_sizes())
    ins_vars = split(node.inputs, info.outer_input_sizes())
    outs_vars = split(node.outputs, info.outer_output_sizes())
    slot = 0
    reads = []
    for spec, vals, var in zip(info.reads, ins["reads"], ins_vars["reads"]):
        prefix = vals[1] if spec.prefix else None
        reads.append(_Sequence(spec, vals[0], prefix, n, var[0], slot))
        slot += len(spec.taps)
    states = []
    for k, (spec, vals, var, out) in enumerate(
        zip(info.states, ins["states"], ins_vars["states"], outs_vars["states"])
    ):
        take = partial(spares.take, ("state", k))
        run = _StateRun(
            spec, vals[0], n, info.until, out[0].dtype, var[0], inner_outputs[k], slot, take
        )
        states.append(run)
        slot += len(spec.taps)
    nit = [
        _Buffer(n, info.until, out[0].dtype, take=partial(spares.take, ("nit", k)))
        for k, out in enumerate(outs_vars["nit_sots"])
    ]
    windows = [
        _WindowRun(spec, vals[0], vals[1] if spec.seeded else None, n, out[0].dtype, info.until)
        for spec, vals, out in zip(info.windows, ins["windows"], outs_vars["windows"])
    ]
    scatters = [
        _Scatter(spec, vals[0], vals[1] if spec.prefix else None, n, var[0])
        for spec, vals, var in zip(info.scatters, ins["scatters"], ins_vars["scatters"])
    ]
    n_state = len(states)
    window_slot = slot
    args: list = [None] * slot + [None] * len(windows) + [v[0] for v in ins["nonseqs"]]
    nit_what = [f"the step output {_label(inner_outputs[n_state + k])}" for k in range(len(nit))]
    window_pos, pos = [], n_state + len(nit)
    for w in windows:
        window_pos.append(pos)
        pos += len(w.spec.taps)
    scatter_pos = []
    for sc in scatters:
        scatter_pos.append(pos)
        pos += len(sc.spec.taps)
    until_pos = pos if info.until else None
    n_done = steps
    results = None
    for t in range(steps):
        for r in reads:
            r.bind(t, args)
        for s in states:
            s.bind(t, args)
        for k, w in enumerate(windows):
            args[window_slot + k] = w.current(t)
        results = None  # the program reuses its output buffers only when we let go of them
        try:
            results = call(args)
        except Exception as exc:
            raise _step_error(exc, t) from exc
        for k, s in enumerate(states):
            s.store(t, results[k])
        for k, buf in enumerate(nit):
            buf.set(t, results[n_state + k], nit_what[k])
        for w, p in zip(windows, window_pos):
            w.advance(results[p : p + len(w.spec.taps)])
        for sc, p in zip(scatters, scatter_pos):
            sc.add(t, results[p : p + len(sc.spec.taps)])
        if until_pos is not None and bool(results[until_pos]):
            n_done = t + 1
            break
    del results, args
    for k, s in enumerate(states):
        spares.keep(("state", k), s.buffer)
    for k, buf in enumerate(nit):
        spares.keep(("nit", k), buf)
    outputs = [s.result(n_done) for s in states]
    rows = empty_rows(inputs) if n_done == 0 and nit else None
    for k, (buf, out) in enumerate(zip(nit, outs_vars["nit_sots"])):
        row = rows[k] if rows else tuple(s or 0 for s in out[0].type.shape[1:])
        outputs.append(buf.result(n_done, row))
    for w in windows:
        outputs += w.results(steps < n, n_done)
    for sc in scatters:
        outputs += sc.results()
    if info.until:
        outputs.append(np.asarray(n_done, dtype="int64"))
    return outputs


def _step_error(exc: Exception, t: int) -> Exception:
    """`exc` with the step at which the inner function failed."""
    text = f"{exc}\n(in the inner function of scan, at step {t})"
    try:
        new = type(exc)(text)
    except Exception:
        new = RuntimeError(text)
    return new
