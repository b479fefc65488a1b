"""Basic indexing: `getitem` (numpy's x[index]), Subtensor, IncSubtensor, set/inc_subtensor.

An indexing op keeps the *structure* of its index in `idx_list` (which entries are integers,
which slice parts are given); the index values are op inputs, python ints becoming int64
constants so that equal subtensors merge. Integer and boolean arrays make the advanced ops of
`symgraph.ops.advanced`; this module parses every index and hands those over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.ops.elemwise import DimShuffle
from symgraph.ops.shape import Shape, dimshuffle, shape_i, specify_shape
from symgraph.types import DISCRETE_DTYPES, INTEGER_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant

INT = "int"  # an integer index: removes its dimension
ARRAY = "array"  # an integer or boolean array (advanced indexing)
NEWAXIS = "newaxis"  # None / np.newaxis (kept by the advanced ops: it changes numpy's layout)
SLICE = "slice"  # parser tag; ops hold a SliceSpec instead
ELLIPSIS = "ellipsis"  # parser tag, expanded to full slices before any op is made
UNKNOWN = "unknown"  # a static index value that is only known at run time


@dataclass(frozen=True)
class SliceSpec:
    """Which parts of a slice are given; their values are inputs of the op."""

    start: bool = False
    stop: bool = False
    step: bool = False

    @property
    def n_inputs(self) -> int:
        return int(self.start) + int(self.stop) + int(self.step)

    def __str__(self) -> str:
        text = f"{'start' if self.start else ''}:{'stop' if self.stop else ''}"
        return text + (":step" if self.step else "")


FULL = SliceSpec()


def _where_str(v: Variable) -> str:
    return f"{v}{v.where()}"


# --- index values -> numpy index, shapes -----------------------------------------------------


def split_values(idx_list: tuple, values) -> list:
    """One value per idx_list entry: a slice gets (start, stop, step) with None where absent."""
    values = iter(values)
    out = []
    for entry in idx_list:
        if entry in (INT, ARRAY):
            out.append(next(values))
        elif entry == NEWAXIS:
            out.append(None)
        else:
            out.append(tuple(next(values) if given else None
                             for given in (entry.start, entry.stop, entry.step)))
    return out


def numpy_index(idx_list: tuple, values) -> tuple:
    """The numpy index tuple for runtime index values."""
    out: list[Any] = []
    for entry, v in zip(idx_list, split_values(idx_list, values)):
        if entry == INT:
            out.append(int(v))
        elif isinstance(entry, SliceSpec):
            out.append(slice(*(None if p is None else int(p) for p in v)))
        else:
            out.append(v)  # an index array, or None for a new axis
    return tuple(out)


def static_value(v: Variable):
    """The int value of a constant index, else UNKNOWN."""
    return int(v.data) if isinstance(v, Constant) else UNKNOWN


def shape_value(v: Variable):
    """An index value for infer_shape: a python int when constant, else an int64 scalar."""
    from symgraph.ops.math import cast

    return int(v.data) if isinstance(v, Constant) else cast(v, "int64")


def _where(cond, a, b):
    """`a if cond else b` on python values, T.switch on symbolic ones."""
    if isinstance(cond, Variable):
        from symgraph.ops.math import switch

        return switch(cond, a, b)
    return a if cond else b


def _max(a, b):
    return _where(a > b, a, b)


def _min(a, b):
    return _where(a < b, a, b)


def _clamp(i, n, lower, upper):
    """A slice bound made non-negative (i + n when i < 0) and clipped into [lower, upper]."""
    return _where(i < 0, _max(i + n, lower), _min(i, upper))


def slice_length(n, start=None, stop=None, step=None):
    """len(range(n)[start:stop:step]) by numpy's rules, as plain arithmetic.

    Works on python ints and on symbolic int64 scalars; None when `n` or a given part is
    UNKNOWN (static shapes).
    """
    if n is None or UNKNOWN in (start, stop, step):  # Variables compare by identity here
        return None
    if start is None and stop is None and step is None:
        return n
    step = 1 if step is None else step
    neg = step < 0
    lower, upper = _where(neg, -1, 0), _where(neg, n - 1, n)
    start = _where(neg, upper, lower) if start is None else _clamp(start, n, lower, upper)
    stop = _where(neg, lower, upper) if stop is None else _clamp(stop, n, lower, upper)
    # ceil((stop - start) / step) for either sign of step, and never negative
    length = _max((stop - start + step - _where(neg, -1, 1)) // step, 0)
    if isinstance(length, Variable):
        from symgraph.ops.math import cast

        return cast(length, "int64")
    return int(length)


def basic_shape(idx_list: tuple, shape: tuple, parts: list) -> tuple:
    """Shape of x[index] for a basic idx_list (ints, symbolic scalars or None per size)."""
    out = [slice_length(n, *part) for entry, n, part in zip(idx_list, shape, parts)
           if entry != INT]
    return tuple(out) + tuple(shape[len(idx_list):])


def check_bounds(var: Variable, shape: tuple, index: tuple) -> None:
    """Integer indices must lie in [-size, size): raise IndexError naming `var`."""
    for axis, i in enumerate(index):
        if isinstance(i, int) and not -shape[axis] <= i < shape[axis]:
            raise IndexError(
                f"index {i} is out of bounds for axis {axis} of {_where_str(var)} "
                f"(size {shape[axis]})"
            )


def _check_scalar_index(op: Op, v) -> Variable:
    v = as_tensor_variable(v)
    if v.ndim != 0 or v.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{op}: index {_where_str(v)} must be an integer scalar, got {v.type}")
    return v


def _basic_inputs(op: Op, x: Variable, index) -> list:
    """Check the index inputs of a basic op against its idx_list and x."""
    if len(op.idx_list) > x.ndim:
        raise IndexError(
            f"too many indices for {_where_str(x)}: it has {x.ndim} dimensions but "
            f"{len(op.idx_list)} were indexed"
        )
    n_inputs = sum(1 if e == INT else e.n_inputs for e in op.idx_list)
    if len(index) != n_inputs:
        raise TypeError(f"{op} takes {n_inputs} index inputs, got {len(index)}")
    return [_check_scalar_index(op, v) for v in index]


def static_parts(idx_list: tuple, x: Variable, index: list) -> list:
    """Constant index values per entry (UNKNOWN if symbolic); constant errors raise here."""
    parts = split_values(idx_list, [static_value(v) for v in index])
    for axis, (entry, part) in enumerate(zip(idx_list, parts)):
        if isinstance(entry, SliceSpec) and part[2] == 0:
            raise ValueError(f"slice step cannot be zero (indexing {_where_str(x)})")
        if entry == INT and part != UNKNOWN and axis < x.ndim:
            size = x.type.shape[axis]
            if size is not None and not -size <= part < size:
                raise IndexError(
                    f"index {part} is out of bounds for axis {axis} of {_where_str(x)} "
                    f"(size {size})"
                )
    return parts


# --- value checks shared by every inc/set op -------------------------------------------------


def conform_value(op: Op, x: Variable, y, region: tuple) -> Variable:
    """`y` checked to fit the indexed region of `x` and cast to x's dtype."""
    from symgraph.ops.math import cast

    y = as_tensor_variable(y)
    verb = "set" if op.set_instead_of_inc else "increment"
    if y.ndim > len(region):
        raise ValueError(
            f"cannot {verb} a {len(region)}-d region of {_where_str(x)} with the {y.ndim}-d "
            f"value {_where_str(y)}"
        )
    if y.dtype != x.dtype:
        # numpy's in-place rule ("same_kind"), which Theano inherited: float64 into a float32
        # region is rounded (Lasagne's LocalResponseNormalization2DLayer does it), a float
        # into an int region is refused
        if not np.can_cast(y.dtype, x.dtype, "same_kind"):
            raise TypeError(
                f"cannot {verb} a region of {_where_str(x)} ({x.dtype}) with {_where_str(y)} "
                f"({y.dtype}): numpy would not cast {y.dtype} to {x.dtype} in place; cast "
                f"the value first (y.astype('{x.dtype}'))"
            )
        y = cast(y, x.dtype)
    for ys, rs in zip(reversed(y.type.shape), reversed(region)):
        if ys not in (None, 1) and rs is not None and ys != rs:
            raise ValueError(
                f"cannot {verb} a region of static shape {_shape_str(region)} of "
                f"{_where_str(x)} with {_where_str(y)} of static shape {_shape_str(y.type.shape)}"
            )
    return y


def check_value_fits(node: Apply, region: tuple, y: np.ndarray) -> None:
    """At run time only dimensions of y with static size 1 may broadcast (gradients rely on it)."""
    static = node.inputs[1].type.shape
    for a in range(1, y.ndim + 1):
        if static[-a] != 1 and y.shape[-a] != region[-a]:
            what = "set" if node.op.set_instead_of_inc else "increment"
            raise ValueError(
                f"cannot {what} a region of shape {tuple(region)} of "
                f"{_where_str(node.inputs[0])} with a value of shape {y.shape} "
                f"({_where_str(node.inputs[1])}): only dimensions of static size 1 broadcast"
            )


def reduce_to(y: Variable, g: Variable) -> Variable:
    """The gradient of a value `y` broadcast into a region: `g` summed over broadcast dims."""
    from symgraph.ops.math import sum as tsum

    if g.ndim > y.ndim:
        g = tsum(g, axis=tuple(range(g.ndim - y.ndim)))
    axes = [a for a, (ys, gs) in enumerate(zip(y.type.shape, g.type.shape))
            if ys == 1 and gs != 1]
    return tsum(g, axis=axes, keepdims=True) if axes else g


def _shape_str(shape: tuple) -> str:
    """A static shape as a tuple, '?' for unknown sizes: (?, 4)."""
    text = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({text}{',' if len(shape) == 1 else ''})"


# --- the ops ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subtensor(Op):
    """x[index] for integers and slices (`idx_list` says which); the output is a view of x."""

    idx_list: tuple

    view_map = {0: [0]}

    def __str__(self) -> str:
        return f"Subtensor{{{', '.join(map(str, self.idx_list))}}}"

    def make_node(self, x, *index) -> Apply:
        x = as_tensor_variable(x)
        index = _basic_inputs(self, x, index)
        shape = basic_shape(self.idx_list, x.type.shape, static_parts(self.idx_list, x, index))
        return Apply(self, [x, *index], [TensorType(x.dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        index = numpy_index(self.idx_list, inputs[1:])
        check_bounds(node.inputs[0], x.shape, index)
        return [x[index + (Ellipsis,)]]  # the Ellipsis keeps a 0-d result a view, not a scalar

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        parts = split_values(self.idx_list, [shape_value(v) for v in node.inputs[1:]])
        return [basic_shape(self.idx_list, input_shapes[0], parts)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops.math import zeros_like

        x, index = inputs[0], inputs[1:]
        if x.dtype in DISCRETE_DTYPES:
            return [None] * len(inputs)
        gx = IncSubtensor(self.idx_list)(zeros_like(x), output_grads[0], *index)
        return [gx] + [None] * len(index)

    def inc_op(self, set_instead_of_inc: bool, inplace: bool) -> Op:
        return IncSubtensor(self.idx_list, inplace, set_instead_of_inc)


@dataclass(frozen=True)
class IncSubtensor(Op):
    """x with x[index] incremented by y (or set to y); y broadcasts to the region.

    The output is a copy of x unless `inplace` (set by the in-place pass).
    """

    idx_list: tuple
    inplace: bool = False
    set_instead_of_inc: bool = False

    @property
    def destroy_map(self) -> dict[int, list[int]]:  # type: ignore[override]
        return {0: [0]} if self.inplace else {}

    def __str__(self) -> str:
        mode = ("Inplace" if self.inplace else "") + ("Set" if self.set_instead_of_inc else "Inc")
        return f"IncSubtensor{{{mode};{', '.join(map(str, self.idx_list))}}}"

    def make_node(self, x, y, *index) -> Apply:
        x = as_tensor_variable(x)
        index = _basic_inputs(self, x, index)
        region = basic_shape(self.idx_list, x.type.shape, static_parts(self.idx_list, x, index))
        y = conform_value(self, x, y, region)
        return Apply(self, [x, y, *index], [x.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, y = inputs[0], inputs[1]
        index = numpy_index(self.idx_list, inputs[2:])
        check_bounds(node.inputs[0], x.shape, index)
        out = x if self.inplace else x.copy()
        region = out[index + (Ellipsis,)]
        check_value_fits(node, region.shape, y)
        if self.set_instead_of_inc:
            region[...] = y
        else:
            region += y
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[0]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, y, index = inputs[0], inputs[1], inputs[2:]
        gz = output_grads[0]
        gx = gy = None
        if x.dtype not in DISCRETE_DTYPES:
            # set: the old values in the region are overwritten, so they get no gradient
            gx = (IncSubtensor(self.idx_list, set_instead_of_inc=True)(
                gz, constant(0, dtype=gz.dtype), *index) if self.set_instead_of_inc else gz)
        if y.dtype not in DISCRETE_DTYPES:
            gy = reduce_to(y, Subtensor(self.idx_list)(gz, *index))
        return [gx, gy] + [None] * len(index)


# --- set_subtensor / inc_subtensor -----------------------------------------------------------


def _is_indexing(v: Variable) -> bool:
    return v.owner is not None and hasattr(v.owner.op, "inc_op")


def _through_dimshuffle(ds: DimShuffle, y, view: Variable) -> Variable:
    """`y` aligned to the DimShuffle's view of an indexing result, aligned to the result."""
    y = as_tensor_variable(y)
    if y.ndim < view.ndim:
        y = dimshuffle(y, ("x",) * (view.ndim - y.ndim) + tuple(range(y.ndim)))
    if any(y.type.shape[a] != 1 for a in ds.augment):
        # axes the view inserted have size 1 there, so y must too (asserted at run time)
        y = specify_shape(y, tuple(1 if a in ds.augment else None for a in range(y.ndim)))
    order = tuple(ds.new_order.index(d) if d in ds.new_order else "x"
                  for d in range(ds.input_ndim))
    return dimshuffle(y, order)


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False):
    """Return the tensor indexed by `x`, with the indexed region incremented by `y`.

    Parameters
    ----------
    x : the result of indexing a tensor (``t[1:3]``, ``t[idx_vector]``, ``t[i, :, None]`` ...).
    y : the increment; it broadcasts to the shape of `x`.
    inplace : leave False; the in-place pass decides.
    set_instead_of_inc : replace the region by `y` instead (see `set_subtensor`).

    Returns
    -------
    A tensor like the one `x` indexes. With integer arrays, repeated indices accumulate
    (``np.add.at`` semantics).

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> r = T.dvector("r")
    >>> new_r = T.inc_subtensor(r[2:], 5)  # numpy: r[2:] += 5
    """
    name = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
    if not isinstance(x, Variable):
        raise TypeError(f"{name}: x must be a symbolic indexing result (t[...]), got {x!r}")
    owner = x.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and _is_indexing(owner.inputs[0]):
        return inc_subtensor(owner.inputs[0], _through_dimshuffle(owner.op, y, x), inplace,
                             set_instead_of_inc)
    if not _is_indexing(x):
        made = "a graph input" if owner is None else f"the output of {owner.op}"
        raise TypeError(
            f"{name}: {_where_str(x)} must be the result of indexing a tensor (e.g. t[1:3]), "
            f"but it is {made}"
        )
    op = owner.op.inc_op(set_instead_of_inc, inplace)
    return op(owner.inputs[0], y, *owner.inputs[1:])


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """Return the tensor indexed by `x`, with the indexed region replaced by `y`.

    Parameters
    ----------
    x : the result of indexing a tensor (``t[10:]``, ``t[idx_vector]`` ...).
    y : the new values; they broadcast to the shape of `x`.

    With repeated integer-array indices, which value lands is unspecified (as in numpy), and
    so is the gradient with respect to `y` at the repeats.

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> r = T.ivector("r")
    >>> new_r = T.set_subtensor(r[10:], 5)  # numpy: r[10:] = 5
    """
    return inc_subtensor(x, y, inplace, set_instead_of_inc=True,
                         tolerate_inplace_aliasing=tolerate_inplace_aliasing)


# --- getitem: parse an index, make the ops ---------------------------------------------------


def _index_variable(x: Variable, item) -> Variable:
    """An index entry as a tensor; python ints become int64 constants (so equal ones merge)."""
    if isinstance(item, (bool, np.bool_)):
        raise NotImplementedError(
            f"indexing {_where_str(x)} with the boolean scalar {item!r} is not supported; "
            "use T.switch, or a boolean array mask"
        )
    if isinstance(item, (int, np.integer)):
        return constant(int(item), dtype="int64")
    if isinstance(item, (list, tuple, np.ndarray)) and np.size(item) == 0:
        return constant(np.zeros(np.shape(item), dtype="int64"))  # numpy: [] indexes as int
    try:
        v = as_tensor_variable(item)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot index {_where_str(x)} with {item!r}: {exc}") from exc
    if v.dtype not in INTEGER_DTYPES and v.dtype != "bool":
        shown = _where_str(v) if isinstance(item, Variable) else repr(item)
        raise TypeError(
            f"cannot index {_where_str(x)} with {shown} of dtype {v.dtype}: indices must be "
            "integers (or boolean masks); convert with int(i) or T.cast(i, 'int64')"
        )
    return v


def _slice_part(x: Variable, part) -> Variable | None:
    if part is None:
        return None
    v = _index_variable(x, part)
    if v.ndim != 0 or v.dtype == "bool":
        raise TypeError(
            f"slice bounds used to index {_where_str(x)} must be integer scalars, got {part!r}"
        )
    return v


def _parse_entry(x: Variable, item) -> tuple[str, Any]:
    if item is None:
        return NEWAXIS, None
    if item is Ellipsis:
        return ELLIPSIS, None
    if isinstance(item, slice):
        return SLICE, tuple(_slice_part(x, p) for p in (item.start, item.stop, item.step))
    v = _index_variable(x, item)
    if v.ndim == 0 and v.dtype == "bool":
        raise NotImplementedError(
            f"indexing {_where_str(x)} with the boolean scalar {_where_str(v)} is not supported"
        )
    return (INT if v.ndim == 0 else ARRAY), v


def consumed_dims(kind: str, value) -> int:
    """How many dimensions of the indexed tensor an index entry uses."""
    if kind in (NEWAXIS, ELLIPSIS):
        return 0
    if kind == ARRAY and value.dtype == "bool":
        return value.ndim
    return 1


def parse_index(x: Variable, index) -> list[tuple[str, Any]]:
    """`index` as (kind, value) entries, the Ellipsis expanded; too many indices raise."""
    items = index if isinstance(index, tuple) else (index,)
    entries = [_parse_entry(x, item) for item in items]
    n_ellipsis = sum(kind == ELLIPSIS for kind, _ in entries)
    if n_ellipsis > 1:
        raise IndexError(f"an index can only have a single ellipsis ('...'), indexing {x}")
    used = sum(consumed_dims(kind, v) for kind, v in entries)
    if used > x.ndim:
        raise IndexError(
            f"too many indices for {_where_str(x)}: it has {x.ndim} dimensions but "
            f"{used} were indexed"
        )
    full = [(SLICE, (None, None, None))] * (x.ndim - used)
    if n_ellipsis:
        k = next(i for i, (kind, _) in enumerate(entries) if kind == ELLIPSIS)
        entries = entries[:k] + full + entries[k + 1:]
    return entries


def strip_full_slices(idx_list: list) -> tuple:
    """Trailing full slices are implied: dropping them lets x[0] and x[0, :] merge."""
    while idx_list and idx_list[-1] == FULL:
        idx_list.pop()
    return tuple(idx_list)


def _shape_entry(x: Variable, index):
    """x.shape[i] for a python int i: Shape_i, or a constant when the size is static."""
    if (x.owner is None or not isinstance(x.owner.op, Shape)
            or not isinstance(index, (int, np.integer)) or isinstance(index, (bool, np.bool_))):
        return None
    inner = x.owner.inputs[0]
    if not -inner.ndim <= index < inner.ndim:
        raise IndexError(
            f"index {index} is out of bounds for the shape of {_where_str(inner)}, which has "
            f"{inner.ndim} dimensions"
        )
    return shape_i(inner, int(index))


def getitem(x, index):
    """``x[index]`` with numpy semantics (what ``TensorVariable.__getitem__`` calls).

    Integers, slices (python or symbolic integer bounds, negative steps too), None and
    Ellipsis make a `Subtensor` (a view); integer or boolean arrays make the advanced ops.

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> x = T.matrix("x")
    >>> row, block, col = x[0], x[1:3, ::-1], x[:, 2, None]
    """
    x = as_tensor_variable(x)
    shortcut = _shape_entry(x, index)
    if shortcut is not None:
        return shortcut
    entries = parse_index(x, index)
    if any(kind == ARRAY for kind, _ in entries):
        from symgraph.ops.advanced import advanced_getitem

        return advanced_getitem(x, entries)
    idx_list, inputs, pattern = [], [], []
    for kind, value in entries:
        if kind == INT:
            idx_list.append(INT)
            inputs.append(value)
        elif kind == SLICE:
            idx_list.append(SliceSpec(*(p is not None for p in value)))
            inputs.extend(p for p in value if p is not None)
            pattern.append(len(pattern) - pattern.count("x"))
        else:
            pattern.append("x")
    out = Subtensor(strip_full_slices(idx_list))(x, *inputs)
    n_kept = len(pattern) - pattern.count("x")
    pattern.extend(range(n_kept, out.ndim))
    return dimshuffle(out, tuple(pattern)) if "x" in pattern else out
