"""The call path of a compiled Function, generated once per function as straight-line Python.

A training loop calls a function thousands of times, so ``f(x, y)`` must cost little more than
the program it runs. The generated ``call`` does, for a function of inputs ``x, y`` and two
shared variables of which the first is updated::

    def call(v0=missing, v1=missing, /, *more, **kwargs):
        if more or kwargs or v1 is missing:    # keywords, defaults, arity errors
            v0, v1 = bind(given(v0, v1) + more, kwargs)
        if not (type(v0) is ndarray and v0.dtype is d0 and v0.ndim == 2):
            v0 = filter0(v0)                   # conversion, or the error naming the input
        ...
        r = run([v0, v1, s0.value, s1.value])
        s0.value = r[1]                        # updates swap into the shared storage
        return r[0]

The inputs are positional-only parameters (an input named ``v0`` passed by keyword lands in
``kwargs``), so a call by position builds no tuple of arguments to unpack. Input checks that
pass cost a type, a dtype identity and an ndim comparison; with ``trust_input`` they are left
out. For an LLVM program the driver's body takes the place of ``r = run([...])``: the
program's steps run in this frame, on the names ``v0, v1, ...`` (the shared values become
``v2, ...``), and its outputs are returned by name. An output is copied only when the
program may hand the same array out again (an input, a view, a constant, a shared value, a
perform result); an array that the program made in a buffer of its own is returned as it
is, since the program never writes into a buffer that someone else still references.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from symgraph.types import TensorType


def _copy(value: Any) -> Any:
    return np.array(value) if isinstance(value, np.ndarray) else value


_MISSING = object()  # an input the call did not pass by position


def _given(*values: Any) -> tuple:
    """The inputs passed by position (those missing come after them)."""
    return tuple(v for v in values if v is not _MISSING)


def build_caller(
    filters: list[tuple],
    shared: list,
    updated: list,
    copies: list[bool],
    single: bool,
    trust_input: bool,
    run: Callable[[list], list],
    bind: Callable[[tuple, dict], list],
    inline: tuple[list[str], list[str], dict[str, Any]] | None = None,
) -> Callable:
    """The generated ``call`` of a Function (see the module docstring).

    `filters` holds, per input, ``(filter, strict, allow_downcast, variable)``; `shared` the
    storages of the shared variables the program reads after the inputs; `updated` the
    storages that receive the program's results after the outputs; `copies` says, per output,
    whether it is copied before it is returned. `inline` is the program's body to run in
    place of ``run([...])``, ``(lines, output names, its globals)`` (the LLVM driver's, see
    codegen/program.py): one Python frame and two lists less per call.
    """
    names: dict[str, Any] = {
        "run": run,
        "bind": bind,
        "ndarray": np.ndarray,
        "copy": _copy,
        "missing": _MISSING,
        "given": _given,
    }
    n = len(filters)
    inputs = [f"v{k}" for k in range(n)]
    if n:
        listed = ", ".join(inputs)
        lines = [
            f"def call({', '.join(f'{v}=missing' for v in inputs)}, /, *more, **kwargs):",
            f"    if more or kwargs or {inputs[-1]} is missing:",
            f"        {listed}, = bind(given({listed}) + more, kwargs)",
        ]
    else:
        lines = ["def call(*more, **kwargs):", "    if more or kwargs:"]
        lines.append("        bind(more, kwargs)")
    for k, (fn, strict, downcast, var) in enumerate(filters):
        if trust_input:
            break
        names.update({f"filter{k}": fn, f"strict{k}": strict, f"down{k}": downcast, f"var{k}": var})
        convert = f"v{k} = filter{k}(v{k}, strict{k}, down{k}, var{k})"
        check = _fast_check(var.type, k, names)
        if check is None:
            lines.append(f"    {convert}")
        else:
            lines += [f"    if not ({check}):", f"        {convert}"]
    for k, storage in enumerate(shared):
        names[f"s{k}"] = storage
    for k in range(len(updated)):
        names[f"u{k}"] = updated[k]
    program_globals = {} if inline is None else {
        key: value for key, value in inline[2].items() if key not in ("__builtins__", "run")
    }
    if inline is not None and not set(program_globals) & set(names):
        body, results, _ = inline
        names.update(program_globals)
        lines += [f"    v{n + k} = s{k}.value" for k in range(len(shared))]
        lines += body
    else:
        values = inputs + [f"s{k}.value" for k in range(len(shared))]
        lines.append(f"    r = run([{', '.join(values)}])")
        results = [f"r[{k}]" for k in range(len(copies) + len(updated))]
    n_out = len(copies)
    for k in range(len(updated)):
        lines.append(f"    u{k}.value = {results[n_out + k]}")
    outs = [f"copy({results[k]})" if c else results[k] for k, c in enumerate(copies)]
    if single:
        lines.append(f"    return {outs[0]}")
    else:
        lines.append(f"    return [{', '.join(outs)}]")
    source = "\n".join(lines) + "\n"
    if inline is not None:  # a driver's size: its code object is cached on disk too
        from symgraph.codegen.program import driver_code

        exec(driver_code(source, "<symgraph call>"), names)
    else:
        exec(compile(source, "<symgraph call>", "exec"), names)
    call = names["call"]
    call.source = source
    return call


def _fast_check(ttype: Any, k: int, names: dict[str, Any]) -> str | None:
    """A Python expression true when input k needs no filtering (None: always filter)."""
    if not isinstance(ttype, TensorType):
        return None
    names[f"d{k}"] = ttype._np_dtype
    return ttype.accepts_source(f"v{k}", f"d{k}")
