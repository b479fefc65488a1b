"""scan(): Theano's loop, built by calling the user's step function once on placeholders."""

from __future__ import annotations

import numbers
from collections import OrderedDict

import numpy as np

from symgraph.function import _check_update_type
from symgraph.graph import Constant, Variable, compute_test_values
from symgraph.scan.info import ScanInfo, State, user_read
from symgraph.scan.inner import close_graph, free_variables, placeholder
from symgraph.scan.op import Scan
from symgraph.shared import SharedVariable
from symgraph.types import INTEGER_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant


class until:  # noqa: N801 - Theano's name
    """Stop a scan after the step in which `condition` (a scalar boolean) becomes true.

    The step function returns it last: ``return outputs, until(x > 10)`` or
    ``return outputs, updates, until(x > 10)``; `n_steps` is then an upper bound.
    """

    def __init__(self, condition):
        cond = as_tensor_variable(condition)
        if cond.ndim != 0:
            raise TypeError(
                f"until: the condition {cond}{cond.where()} must be a scalar boolean, but it has "
                f"{cond.ndim} dimensions ({cond.type}); reduce it first, e.g. T.all(c) or T.any(c)"
            )
        if cond.dtype != "bool" and cond.dtype not in INTEGER_DTYPES:
            raise TypeError(
                f"until: the condition {cond}{cond.where()} must be a scalar boolean, got dtype "
                f"{cond.dtype}; use a comparison such as x > 0"
            )
        self.condition = cond


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _label(v: Variable) -> str:
    return f"{v.name or v}{v.where()}"


def _row_type(v: Variable) -> TensorType:
    return TensorType(v.dtype, v.type.shape[1:])


def _tap_name(v: Variable, tap: int) -> str | None:
    if v.name is None:
        return None
    return f"{v.name}[t]" if tap == 0 else f"{v.name}[t{tap:+d}]"


def _int_taps(taps, what: str) -> tuple[int, ...]:
    taps = _as_list(taps)
    if not taps or not all(isinstance(t, (int, np.integer)) for t in taps):
        raise TypeError(f"scan: the taps of {what} must be a non-empty list of ints, got {taps!r}")
    if len(set(taps)) != len(taps):
        raise ValueError(f"scan: the taps of {what} repeat a value: {taps}")
    return tuple(int(t) for t in taps)


def _sequence(entry, k: int) -> tuple[Variable, tuple[int, ...]]:
    taps = [0]
    if isinstance(entry, dict):
        if "input" not in entry:
            raise ValueError(f"scan: sequence {k} is a dict without an 'input' entry: {entry!r}")
        entry, taps = entry["input"], entry.get("taps", [0])
        taps = [0] if taps is None else taps
    seq = as_tensor_variable(entry)
    if seq.ndim == 0:
        raise TypeError(
            f"scan: sequence {k} ({_label(seq)}) is a scalar; scan iterates over the "
            "first dimension of each sequence (pass a scalar as a non_sequence)"
        )
    return seq, _int_taps(taps, f"sequence {k}")


def _output_info(entry, k: int):
    """(initial state, taps, single) for a fed-back output, or None for one that is not."""
    if entry is None:
        return None
    taps = [-1]
    if isinstance(entry, dict):
        if "return_steps" in entry:
            raise ValueError(
                "scan: 'return_steps' is not supported (as in Theano, index the "
                "output instead, e.g. out[-1])"
            )
        if entry.get("initial") is None:
            if entry.get("taps"):
                raise ValueError(
                    f"scan: outputs_info[{k}] gives taps but no initial state; "
                    "taps need an 'initial' value"
                )
            return None
        entry, taps = entry["initial"], entry.get("taps") or [-1]
    init = as_tensor_variable(entry)
    taps = _int_taps(taps, f"outputs_info[{k}]")
    if any(t >= 0 for t in taps):
        raise ValueError(
            f"scan: outputs_info[{k}] has taps {list(taps)}; an output can only "
            "read its past values (negative taps)"
        )
    single = taps == (-1,)
    if not single:
        span = -min(taps)
        if init.ndim == 0:
            raise TypeError(
                f"scan: outputs_info[{k}] ({_label(init)}) uses taps {list(taps)}, "
                f"so its initial state needs a leading dimension of {span} rows "
                "(one per past step), but it is a scalar"
            )
        rows = init.type.shape[0]
        if rows is not None and rows < span:
            raise ValueError(
                f"scan: the initial state of outputs_info[{k}] ({_label(init)}) has "
                f"{rows} rows, but taps {list(taps)} need {span}"
            )
    return init, taps, single


def _steps(n_steps, seqs: list, go_backwards: bool) -> Variable:
    """The int64 number of steps: n_steps if given, else what the shortest sequence allows."""
    from symgraph.ops.math import cast, minimum
    from symgraph.ops.shape import shape_i

    spans = [user_read(taps, go_backwards).span for _, taps in seqs]
    if n_steps is not None:
        n = as_tensor_variable(n_steps) if isinstance(n_steps, Variable) else n_steps
        if not isinstance(n, Variable):
            if not float(n).is_integer():
                raise TypeError(f"scan: n_steps must be an integer, got {n_steps!r}")
            n = constant(int(n), dtype="int64")
        if n.ndim != 0 or n.dtype not in INTEGER_DTYPES:
            raise TypeError(
                f"scan: n_steps must be an integer scalar, got {_label(n)} of type {n.type}"
            )
        if not isinstance(n, Constant):
            return cast(n, "int64")
        value = int(n.data)
        if value < 0:
            raise ValueError(
                f"scan: n_steps is {value}; it must be >= 0 (to run backwards, "
                "use go_backwards=True)"
            )
        for k, ((seq, taps), span) in enumerate(zip(seqs, spans)):
            rows = seq.type.shape[0]
            if rows is not None and rows < value + span:
                raise ValueError(
                    f"scan: n_steps={value} contradicts sequence {k} "
                    f"({_label(seq)}): it has {rows} elements, and {value} steps "
                    f"with taps {list(taps)} need {value + span}"
                )
        return constant(value, dtype="int64")
    if not seqs:
        raise ValueError(
            "scan: no information about the number of steps; give n_steps or at least one sequence"
        )
    lengths = []
    for k, ((seq, taps), span) in enumerate(zip(seqs, spans)):
        rows = seq.type.shape[0]
        if rows is not None and rows < span:
            raise ValueError(
                f"scan: sequence {k} ({_label(seq)}) has {rows} elements, too few "
                f"for its taps {list(taps)}"
            )
        if rows is not None:
            lengths.append(rows - span)
        else:
            lengths.append(shape_i(seq, 0) - span if span else shape_i(seq, 0))
    if all(isinstance(v, int) for v in lengths):
        return constant(min(lengths), dtype="int64")
    n = lengths[0]
    for other in lengths[1:]:
        n = minimum(n, other)  # Theano: the shortest sequence decides
    return cast(n, "int64")


def _is_output(e) -> bool:
    return isinstance(e, (Variable, numbers.Number, np.ndarray, np.generic))


def _is_outputs(x) -> bool:
    return _is_output(x) or (isinstance(x, (list, tuple)) and all(_is_output(e) for e in x))


def _is_updates(x) -> bool:
    return isinstance(x, dict) or (
        isinstance(x, (list, tuple))
        and len(x) > 0
        and all(isinstance(p, (list, tuple)) and len(p) == 2 and not _is_output(p) for p in x)
    )


def _parse_return(ret) -> tuple:
    """(condition, outputs, updates) from what the step function returned (Theano's forms)."""
    if isinstance(ret, until):
        return ret.condition, [], []
    if _is_outputs(ret):
        return None, _as_list(ret), []
    if _is_updates(ret):
        return None, [], ret
    parts = list(ret) if isinstance(ret, (list, tuple)) else [ret]
    cond = parts.pop().condition if parts and isinstance(parts[-1], until) else None
    outs, ups = None, None
    if len(parts) == 2 and _is_outputs(parts[0]) and _is_updates(parts[1]):
        outs, ups = parts
    elif len(parts) == 2 and _is_updates(parts[0]) and _is_outputs(parts[1]):
        ups, outs = parts
    elif len(parts) == 1 and cond is not None:
        outs, ups = (parts[0], []) if _is_outputs(parts[0]) else ([], parts[0])
    if outs is None or not _is_updates(ups) and ups != []:
        raise ValueError(
            f"scan: cannot understand what the step function returned: {ret!r}. Return the "
            "outputs (a variable or a list of them), optionally followed by an updates dict, "
            "and optionally by until(condition) last."
        )
    return cond, _as_list(outs), ups


def _match_state(out: Variable, ph: Variable, init: Variable, k: int) -> Variable:
    """The step output `out` checked against its initial state's type (placeholder `ph`)."""
    from symgraph.ops.shape import specify_shape

    head = (
        f"scan: output {k} of the step function ({_label(out)}) has type {out.type}, but "
        f"its initial state (outputs_info[{k}], {_label(init)}) gives {ph.type}"
    )
    if out.dtype != ph.dtype:
        raise TypeError(
            f"{head}. A recurrent output must keep the dtype of its initial state (a float64 "
            f"constant or input often upcasts a float32 state): cast the output, e.g. return "
            f"out.astype('{ph.dtype}'), or build the initial state as {out.dtype}."
        )
    if out.ndim != ph.ndim:
        raise TypeError(f"{head}. They must have the same number of dimensions.")
    for axis, (a, b) in enumerate(zip(out.type.shape, ph.type.shape)):
        if a is not None and b is not None and a != b:
            raise ValueError(f"{head}. Their sizes on axis {axis} differ ({a} vs {b}).")
    if any(a is None and b is not None for a, b in zip(out.type.shape, ph.type.shape)):
        out = specify_shape(out, ph.type.shape)  # checked at run time
    return out


def _check_updates(updates) -> list[tuple[SharedVariable, Variable]]:
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    out, seen = [], set()
    for var, expr in pairs:
        if not isinstance(var, SharedVariable):
            raise TypeError(
                f"scan: the step function's updates must have shared variables as keys, got {var!r}"
            )
        if var in seen:
            raise ValueError(f"scan: the shared variable {_label(var)} is updated twice")
        seen.add(var)
        out.append((var, _check_update_type(var, as_tensor_variable(expr))))
    return out


def _add_default_updates(roots, bound, replace, update_pairs, shared_phs, n_states) -> None:
    """Shared variables with a default update (random streams) advance at every step.

    As in Theano, their updates join the loop's updates (and `roots`, `replace`, ...).
    """
    while True:
        updated = {id(v) for v, _ in update_pairs}
        used = free_variables(roots, bound + list(replace)) + list(replace)
        fresh = [
            v
            for v in used
            if isinstance(v, SharedVariable)
            and id(v) not in updated
            and v.default_update is not None
        ]
        if not fresh:
            return
        for var in fresh:
            expr = _check_update_type(var, as_tensor_variable(var.default_update))
            update_pairs.append((var, expr))
            replace[var] = placeholder(var)
            shared_phs.append(replace[var])
            roots.insert(n_states + len(update_pairs) - 1, expr)


def scan(
    fn,
    sequences=None,
    outputs_info=None,
    non_sequences=None,
    n_steps=None,
    truncate_gradient=-1,
    go_backwards=False,
    mode=None,
    name=None,
    profile=False,
    allow_gc=None,
    strict=False,
    return_list=False,
):
    """Loop `fn` over `sequences` and recurrent outputs (Theano's ``scan``).

    At step t, `fn` receives, in order: the slices of each sequence at its taps, the past
    values of each output that has an initial state in `outputs_info` (at its taps), then
    the `non_sequences`. It returns its outputs (one per `outputs_info` entry), optionally
    an updates dict for shared variables and optionally ``until(condition)`` last.

    Parameters
    ----------
    fn : callable building one step from symbolic variables.
    sequences : variables (or dicts ``dict(input=x, taps=[-2, 0, 1])``) iterated over their
        first dimension; without `n_steps` the shortest sequence decides the number of steps.
    outputs_info : per output: None (not fed back), an initial state (taps [-1]), or
        ``dict(initial=x0, taps=[-2, -1])`` whose initial state has one row per past step
        (``x0[0]`` is the value at time -2).
    non_sequences : variables passed unchanged to every step. Shared and other outer
        variables used by `fn` are found automatically.
    n_steps : number of steps (an upper bound with ``until``); must be >= 0.
    truncate_gradient : backpropagate through time over the last this many steps (-1: all).
    go_backwards : iterate the sequences from their end.
    mode : how the step function is compiled (None: the default mode, config.mode).
    name : shown in errors and printed graphs.
    profile, allow_gc : accepted for Theano compatibility; no effect.
    strict : refuse variables used by `fn` that are not passed in sequences / non_sequences.
    return_list : always return a list of outputs.

    Returns
    -------
    (outputs, updates): outputs hold every step (not the initial state): a variable, a list,
    or None when `fn` returns none; updates is an OrderedDict for ``function(updates=...)``.

    Examples
    --------
    >>> import numpy as np, symgraph as sg, symgraph.tensor as T
    >>> A, k = T.dvector("A"), T.iscalar("k")
    >>> result, updates = sg.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
    ...                           non_sequences=A, n_steps=k)
    >>> power = sg.function([A, k], result[-1], updates=updates)
    >>> power(np.arange(4.0), 2)
    array([0., 1., 4., 9.])
    """
    seqs = [_sequence(e, k) for k, e in enumerate(_as_list(sequences))]
    infos = [_output_info(e, k) for k, e in enumerate(_as_list(outputs_info))]
    nonseqs = [
        x if isinstance(x, Variable) else as_tensor_variable(x) for x in _as_list(non_sequences)
    ]
    n = _steps(n_steps, seqs, go_backwards)
    read_phs = [
        [placeholder(seq, _row_type(seq), _tap_name(seq, t)) for t in taps] for seq, taps in seqs
    ]
    state_phs = []
    for info in infos:
        if info is not None:
            init, taps, single = info
            ptype = init.type if single else _row_type(init)
            state_phs.append([placeholder(init, ptype, _tap_name(init, t)) for t in taps])
    args = [p for phs in read_phs + state_phs for p in phs] + nonseqs
    cond, outputs, updates = _parse_return(fn(*args))
    outputs = [as_tensor_variable(o) for o in outputs]
    if infos and len(infos) != len(outputs):
        raise ValueError(
            f"scan: the step function returned {len(outputs)} output(s), but outputs_info has "
            f"{len(infos)} entries; give one entry per output (None for an output that is not "
            "fed back)"
        )
    infos = infos or [None] * len(outputs)
    states = [k for k, info in enumerate(infos) if info is not None]
    nits = [k for k, info in enumerate(infos) if info is None]
    for k, phs in zip(states, state_phs):
        outputs[k] = _match_state(outputs[k], phs[0], infos[k][0], k)
    update_pairs = _check_updates(updates)
    bound = [p for phs in read_phs + state_phs for p in phs]

    replace: dict = {}
    for v in nonseqs:
        if not isinstance(v, Constant) and v not in replace:
            replace[v] = placeholder(v)
    shared_phs = []
    for var, _ in update_pairs:
        replace[var] = placeholder(var, name=f"{var.name}[t-1]" if var.name else None)
        shared_phs.append(replace[var])
    roots = [outputs[k] for k in states] + [e for _, e in update_pairs]
    roots += [outputs[k] for k in nits] + ([cond] if cond is not None else [])
    _add_default_updates(roots, bound, replace, update_pairs, shared_phs, len(states))
    if strict:
        extra = free_variables(roots, bound + list(replace))
        if extra:
            raise ValueError(
                f"scan(strict=True): the step function uses {_label(extra[0])}, "
                "which is not given in sequences or non_sequences"
            )
    inner, implicit, implicit_phs = close_graph(roots, replace, bound)
    updated = {id(v) for v, _ in update_pairs}
    explicit = [v for v in replace if id(v) not in updated]
    nonseq_outer = explicit + implicit
    nonseq_inner = [replace[v] for v in explicit] + implicit_phs
    info = ScanInfo(
        reads=tuple(user_read(taps, go_backwards) for _, taps in seqs),
        states=tuple(State(infos[k][1], infos[k][2]) for k in states)
        + tuple(State((-1,), True, "last") for _ in update_pairs),
        n_nit_sot=len(nits),
        n_nonseqs=len(nonseq_outer),
        until=cond is not None,
        truncate_gradient=int(truncate_gradient),
    )
    inner_inputs = bound + shared_phs + nonseq_inner
    op = Scan(tuple(inner_inputs), tuple(inner), info, mode, name)
    outer = [n] + [seq for seq, _ in seqs] + [infos[k][0] for k in states]
    outer += [v for v, _ in update_pairs] + nonseq_outer
    node = op.make_node(*outer)
    compute_test_values(node)
    node_outputs = node.outputs
    results: list = [None] * len(outputs)
    for pos, k in enumerate(states):
        results[k] = node_outputs[pos]
    n_state = len(states) + len(update_pairs)
    for pos, k in enumerate(nits):
        results[k] = node_outputs[n_state + pos]
    new_updates = OrderedDict(
        (var, node_outputs[len(states) + pos]) for pos, (var, _) in enumerate(update_pairs)
    )
    if return_list:
        return results, new_updates
    if not results:
        return None, new_updates
    return (results[0] if len(results) == 1 else results), new_updates
