"""The layout of a Scan node: which outer and inner inputs and outputs play which role.

A Scan node runs its inner function `n_steps` times. Its inputs and outputs come in kinds,
always in this order (each kind in the order of its tuple in `ScanInfo`):

outer inputs   n_steps, reads (main [, prefix]), states (initial value), windows (reference
               [, seed]), scatters (main reference [, prefix reference]), non-sequences
inner inputs   reads (one per tap), states (one per tap), windows (one: the accumulator),
               non-sequences
inner outputs  states (the new value), nit_sots, windows (one per tap), scatters (one per tap),
               [until condition]
outer outputs  states (every step, or the final window), nit_sots, windows (the gradient of
               the initial state [, every accumulator]), scatters (main [, prefix]), [steps done]

Users only make reads (sequences), states (outputs_info), nit_sots and non-sequences. Windows
and scatters are what a gradient needs: a window is the adjoint of a state, a scatter the
adjoint of a read, so the gradient of a Scan is again a Scan (and grad of grad works).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Read:
    """Per-step slices of a sequence (a `scatter` writes the same places instead of reading).

    Step t is at position p = t (or n-1-t when `backward`) of a window of n + hi - lo rows,
    taken from the start of the sequence (or its end when `align_end`); tap k reads row
    p + k - lo. With a `prefix`, the sequence is prefix ++ main: -1 means the prefix is one
    element (a sit_sot initial state), L > 0 its first L rows (a mit_sot initial state).
    """

    taps: tuple[int, ...]
    lo: int
    hi: int
    backward: bool = False
    align_end: bool = False
    prefix: int = 0

    @property
    def span(self) -> int:
        return self.hi - self.lo

    @property
    def prefix_rows(self) -> int:
        return 1 if self.prefix == -1 else self.prefix

    @property
    def n_outer(self) -> int:
        return 2 if self.prefix else 1

    def flipped(self, taps: tuple[int, ...] | None = None) -> Read:
        """The same rows visited in the opposite order (what the adjoint scan reads)."""
        return replace(self, taps=self.taps if taps is None else taps, backward=not self.backward)


def user_read(taps: tuple[int, ...], go_backwards: bool) -> Read:
    """Theano's sequence convention: the window always covers tap 0."""
    return Read(tuple(taps), min(min(taps), 0), max(max(taps), 0), go_backwards, go_backwards)


@dataclass(frozen=True)
class State:
    """A recurrent output reading its own past values at `taps` (all negative).

    `single`: the initial value is one state (sit_sot, taps (-1,)); otherwise its first
    `span` rows hold the states at times -span .. -1 (mit_sot). `keep` is "all" (output every
    step) or "last" (output the final window: the last state, or the last `span` rows).
    """

    taps: tuple[int, ...]
    single: bool
    keep: str = "all"

    @property
    def span(self) -> int:
        return 1 if self.single else -min(self.taps)


@dataclass(frozen=True)
class Window:
    """Gradient accumulators for a state's past values: the adjoint of a `State`.

    At step j the inner function gets the finished accumulator of step j and returns, per
    tap (negative), a contribution added to the accumulator of step j - tap. The output is
    shaped like the reference (the state's initial value): what is left for times -span..-1.
    `seeded`: the accumulators of the first `span` steps start from a seed input (rows in the
    order of a State's final window); `record`: also output every step's accumulator.
    """

    taps: tuple[int, ...]
    span: int
    single: bool
    seeded: bool = False
    record: bool = False


@dataclass(frozen=True)
class ScanInfo:
    """Everything about a Scan node's layout besides its inner graph."""

    reads: tuple[Read, ...] = ()
    states: tuple[State, ...] = ()
    n_nit_sot: int = 0
    windows: tuple[Window, ...] = ()
    scatters: tuple[Read, ...] = ()
    n_nonseqs: int = 0
    until: bool = False
    truncate: int = -1  # run only the first `truncate` steps (the adjoint of truncated BPTT)
    truncate_gradient: int = -1  # how many steps this scan's own gradient goes back

    # --- sizes of each kind, in layout order ---
    def outer_input_sizes(self) -> list[tuple[str, list[int]]]:
        return [
            ("n_steps", [1]),
            ("reads", [r.n_outer for r in self.reads]),
            ("states", [1] * len(self.states)),
            ("windows", [1 + w.seeded for w in self.windows]),
            ("scatters", [s.n_outer for s in self.scatters]),
            ("nonseqs", [1] * self.n_nonseqs),
        ]

    def inner_input_sizes(self) -> list[tuple[str, list[int]]]:
        return [
            ("reads", [len(r.taps) for r in self.reads]),
            ("states", [len(s.taps) for s in self.states]),
            ("windows", [1] * len(self.windows)),
            ("nonseqs", [1] * self.n_nonseqs),
        ]

    def inner_output_sizes(self) -> list[tuple[str, list[int]]]:
        return [
            ("states", [1] * len(self.states)),
            ("nit_sots", [1] * self.n_nit_sot),
            ("windows", [len(w.taps) for w in self.windows]),
            ("scatters", [len(s.taps) for s in self.scatters]),
            ("until", [1] if self.until else []),
        ]

    def outer_output_sizes(self) -> list[tuple[str, list[int]]]:
        return [
            ("states", [1] * len(self.states)),
            ("nit_sots", [1] * self.n_nit_sot),
            ("windows", [1 + w.record for w in self.windows]),
            ("scatters", [s.n_outer for s in self.scatters]),
            ("steps", [1] if self.until else []),
        ]


def split(values: list, sizes: list[tuple[str, list[int]]]) -> dict[str, list[list[Any]]]:
    """Group a flat list by kind: {kind: [[values of item 0], [values of item 1], ...]}."""
    out: dict[str, list[list[Any]]] = {}
    pos = 0
    for kind, counts in sizes:
        groups = []
        for c in counts:
            groups.append(list(values[pos : pos + c]))
            pos += c
        out[kind] = groups
    if pos != len(values):
        raise ValueError(f"scan layout expects {pos} values, got {len(values)}")
    return out


def total(sizes: list[tuple[str, list[int]]]) -> int:
    return sum(sum(counts) for _, counts in sizes)
