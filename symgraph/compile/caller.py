"""The call path of a compiled Function, generated once per function as straight-line Python.

A training loop calls a function thousands of times, so ``f(x, y)`` must cost little more than
the program it runs. The generated ``call`` does, for a function of inputs ``x, y`` and two
shared variables of which the first is updated::

    def call(*args, **kwargs):
        if kwargs or len(args) != 2:
            args = bind(args, kwargs)          # keywords, defaults, arity errors
        v0, v1 = args
        if not (type(v0) is ndarray and v0.dtype is d0 and v0.ndim == 2):
            v0 = filter0(v0)                   # conversion, or the error naming the input
        ...
        r = run([v0, v1, s0.value, s1.value])
        s0.value = r[1]                        # updates swap into the shared storage
        return r[0]

Input checks that pass cost a type, a dtype identity and an ndim comparison; with
``trust_input`` they are left out. An output is copied only when the program may hand the same
array out again (an input, a view, a constant, a shared value, a perform result); an array
that the program made in a buffer of its own is returned as it is, since the program never
writes into a buffer that someone else still references.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from symgraph.types import TensorType


def _copy(value: Any) -> Any:
    return np.array(value) if isinstance(value, np.ndarray) else value


def build_caller(
    filters: list[tuple],
    shared: list,
    updated: list,
    copies: list[bool],
    single: bool,
    trust_input: bool,
    run: Callable[[list], list],
    bind: Callable[[tuple, dict], list],
) -> Callable:
    """The generated ``call(*args, **kwargs)`` of a Function (see the module docstring).

    `filters` holds, per input, ``(filter, strict, allow_downcast, variable)``; `shared` the
    storages of the shared variables the program reads after the inputs; `updated` the
    storages that receive the program's results after the outputs; `copies` says, per output,
    whether it is copied before it is returned.
    """
    names: dict[str, Any] = {"run": run, "bind": bind, "ndarray": np.ndarray, "copy": _copy}
    n = len(filters)
    inputs = [f"v{k}" for k in range(n)]
    lines = ["def call(*args, **kwargs):"]
    lines.append(f"    if kwargs or len(args) != {n}:")
    lines.append("        args = bind(args, kwargs)")
    if n:
        lines.append(f"    {', '.join(inputs)}{',' if n == 1 else ''} = args")
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
    values = inputs + [f"s{k}.value" for k in range(len(shared))]
    lines.append(f"    r = run([{', '.join(values)}])")
    n_out = len(copies)
    for k, storage in enumerate(updated):
        names[f"u{k}"] = storage
        lines.append(f"    u{k}.value = r[{n_out + k}]")
    outs = [f"copy(r[{k}])" if c else f"r[{k}]" for k, c in enumerate(copies)]
    if single:
        lines.append(f"    return {outs[0]}")
    else:
        lines.append(f"    return [{', '.join(outs)}]")
    source = "\n".join(lines) + "\n"
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
