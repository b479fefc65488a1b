"""Advanced indexing with integer and boolean arrays: AdvancedSubtensor1, AdvancedSubtensor,
their inc/set ops (repeated indices accumulate, as np.add.at), and `take`.

As in numpy, the index arrays (and integer scalars next to them) broadcast together, and the
broadcast shape replaces the indexed dimensions where the arrays are if they are adjacent in
the index, else it comes first. Unlike numpy, only dimensions of static size 1 broadcast (as in
Elemwise), so shapes are known without looking at the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.ops.elemwise import broadcast_static_shapes
from symgraph.ops.subtensor import (
    ARRAY,
    INT,
    NEWAXIS,
    SLICE,
    SliceSpec,
    check_value_fits,
    conform_value,
    getitem,
    numpy_index,
    reduce_to,
    shape_value,
    slice_length,
    split_values,
    static_value,
    strip_full_slices,
)
from symgraph.types import DISCRETE_DTYPES, INTEGER_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant


def _where_str(v: Variable) -> str:
    return f"{v}{v.where()}"


def _zeros_like(x: Variable) -> Variable:
    from symgraph.ops.math import zeros_like

    return zeros_like(x)


# --- AdvancedSubtensor1: x[int_vector] on axis 0 ---------------------------------------------


def _check_rows(var: Variable, rows: np.ndarray, size: int) -> None:
    bad = (rows < -size) | (rows >= size)
    if bad.any():
        raise IndexError(
            f"index {rows[bad][0]} is out of bounds for axis 0 of {_where_str(var)} (size {size})"
        )


def _rows_input(op: Op, x: Variable, ilist) -> Variable:
    ilist = as_tensor_variable(ilist)
    if x.ndim < 1:
        raise TypeError(f"{op}: cannot index the scalar {_where_str(x)}")
    if ilist.ndim != 1 or ilist.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{op}: the index {_where_str(ilist)} must be an integer vector, "
                        f"got {ilist.type}")
    return ilist


@dataclass(frozen=True)
class AdvancedSubtensor1(Op):
    """x[ilist] for an integer vector `ilist` on the first axis (a gather of rows)."""

    def make_node(self, x, ilist) -> Apply:
        x = as_tensor_variable(x)
        ilist = _rows_input(self, x, ilist)
        shape = (ilist.type.shape[0],) + x.type.shape[1:]
        return Apply(self, [x, ilist], [TensorType(x.dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, rows = inputs
        _check_rows(node.inputs[0], rows, x.shape[0])
        return [x[rows]]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[1][0],) + tuple(input_shapes[0][1:])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, rows = inputs
        if x.dtype in DISCRETE_DTYPES:
            return [None, None]
        return [AdvancedIncSubtensor1()(_zeros_like(x), output_grads[0], rows), None]

    def inc_op(self, set_instead_of_inc: bool, inplace: bool) -> Op:
        return AdvancedIncSubtensor1(inplace, set_instead_of_inc)


@dataclass(frozen=True)
class AdvancedIncSubtensor1(Op):
    """x with rows x[ilist] incremented by y (repeats accumulate) or set to y."""

    inplace: bool = False
    set_instead_of_inc: bool = False

    @property
    def destroy_map(self) -> dict[int, list[int]]:  # type: ignore[override]
        return {0: [0]} if self.inplace else {}

    def __str__(self) -> str:
        mode = ("inplace," if self.inplace else "") + ("set" if self.set_instead_of_inc else "inc")
        return f"AdvancedIncSubtensor1{{{mode}}}"

    def make_node(self, x, y, ilist) -> Apply:
        x = as_tensor_variable(x)
        ilist = _rows_input(self, x, ilist)
        y = conform_value(self, x, y, (ilist.type.shape[0],) + x.type.shape[1:])
        return Apply(self, [x, y, ilist], [x.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, y, rows = inputs
        _check_rows(node.inputs[0], rows, x.shape[0])
        check_value_fits(node, (len(rows),) + x.shape[1:], y)
        out = x if self.inplace else x.copy()
        if self.set_instead_of_inc:
            out[rows] = y
        else:
            np.add.at(out, rows, y)
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[0]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, y, rows = inputs
        gz = output_grads[0]
        gx = gy = None
        if x.dtype not in DISCRETE_DTYPES:
            gx = (AdvancedIncSubtensor1(set_instead_of_inc=True)(
                gz, constant(0, dtype=gz.dtype), rows) if self.set_instead_of_inc else gz)
        if y.dtype not in DISCRETE_DTYPES:
            gy = reduce_to(y, AdvancedSubtensor1()(gz, rows))
        return [gx, gy, None]


# --- AdvancedSubtensor: any mix of arrays, integers, slices and new axes ---------------------


def _consumed(v: Variable) -> int:
    return v.ndim if v.dtype == "bool" else 1


def advanced_shape(idx_list: tuple, x_shape: tuple, parts: list, array_shapes: list,
                   consumed: list, broadcast: Callable) -> tuple:
    """Output shape of advanced indexing: sizes are ints, symbolic scalars or None (static)."""
    out: list = []
    arrays_at: list[int] = []
    first, axis = 0, 0
    for pos, (entry, part) in enumerate(zip(idx_list, parts)):
        if entry == ARRAY:
            if not arrays_at:
                first = len(out)
            axis += consumed[len(arrays_at)]
            arrays_at.append(pos)
        elif entry == NEWAXIS:
            out.append(1)
        else:
            out.append(slice_length(x_shape[axis], *part))
            axis += 1
    out.extend(x_shape[axis:])
    adjacent = arrays_at[-1] - arrays_at[0] + 1 == len(arrays_at)
    at = first if adjacent else 0
    return tuple(out[:at]) + tuple(broadcast(array_shapes)) + tuple(out[at:])


def _broadcast_index(shapes: list, statics: list, var: Variable | None = None) -> tuple:
    """Broadcast index shapes where only static-1 dims stretch; with `var`, check the sizes."""
    ndim = max(len(s) for s in shapes)
    padded = [((1,) * (ndim - len(s)) + tuple(s), (1,) * (ndim - len(t)) + tuple(t))
              for s, t in zip(shapes, statics)]
    out = []
    for axis in range(ndim):
        sizes = [s[axis] for s, t in padded if t[axis] != 1]
        if var is not None and len(set(sizes)) > 1:
            raise IndexError(
                f"the index arrays used on {_where_str(var)} have shapes "
                f"{', '.join(str(tuple(s)) for s in shapes)}, which disagree on axis {axis}; "
                "only dimensions of static size 1 broadcast"
            )
        out.append(sizes[0] if sizes else 1)
    return tuple(out)


def _advanced_inputs(op: Op, x: Variable, index) -> list:
    """Check an advanced op's index inputs against its idx_list and x."""
    n_inputs = sum(e.n_inputs if isinstance(e, SliceSpec) else int(e != NEWAXIS)
                   for e in op.idx_list)
    if len(index) != n_inputs:
        raise TypeError(f"{op} takes {n_inputs} index inputs, got {len(index)}")
    index = [as_tensor_variable(v) for v in index]
    axis = 0
    for entry, part in zip(op.idx_list, split_values(op.idx_list, index)):
        if entry == ARRAY:
            if part.dtype not in INTEGER_DTYPES + ("bool",):
                raise TypeError(f"{op}: index {_where_str(part)} must be an integer or boolean "
                                f"array, got {part.type}")
            _check_mask(x, part, axis)
            axis += _consumed(part)
        elif isinstance(entry, SliceSpec):
            for p in part:
                if p is not None and (p.ndim != 0 or p.dtype not in INTEGER_DTYPES):
                    raise TypeError(f"{op}: slice bound {_where_str(p)} must be an integer "
                                    f"scalar, got {p.type}")
            axis += 1
    if axis > x.ndim:
        raise IndexError(f"too many indices for {_where_str(x)}: it has {x.ndim} dimensions "
                         f"but {axis} were indexed")
    return index


def _check_mask(x: Variable, mask: Variable, axis: int) -> None:
    if mask.dtype != "bool":
        return
    if mask.ndim == 0:
        raise NotImplementedError(f"indexing {_where_str(x)} with a boolean scalar is not "
                                  "supported")
    for k, size in enumerate(mask.type.shape):
        want = x.type.shape[axis + k] if axis + k < x.ndim else None
        if size is not None and want is not None and size != want:
            raise IndexError(
                f"the boolean mask {_where_str(mask)} of static shape ({mask.type.short_shape()})"
                f" does not match axis {axis + k} of {_where_str(x)} (size {want})"
            )


def _static_shape(op: Op, x: Variable, index: list) -> tuple:
    values = [v if is_array else static_value(v) for v, is_array in _arrays_marked(op, index)]
    parts = split_values(op.idx_list, values)
    if any(isinstance(e, SliceSpec) and p[2] == 0 for e, p in zip(op.idx_list, parts)):
        raise ValueError(f"slice step cannot be zero (indexing {_where_str(x)})")
    arrays = [p for e, p in zip(op.idx_list, parts) if e == ARRAY]
    shapes = [(int(a.data.sum()) if isinstance(a, Constant) else None,)
              if a.dtype == "bool" else a.type.shape for a in arrays]
    where = f"the index arrays of {_where_str(x)}"
    try:
        return advanced_shape(op.idx_list, x.type.shape, parts, shapes,
                              [_consumed(a) for a in arrays],
                              lambda s: broadcast_static_shapes(s, where))
    except ValueError as exc:  # numpy calls a shape mismatch of index arrays an IndexError
        raise IndexError(str(exc)) from None


def _arrays_marked(op: Op, index: list) -> list:
    """(input, is an index array) for each index input, in order."""
    flags = []
    for entry in op.idx_list:
        if isinstance(entry, SliceSpec):
            flags.extend([False] * entry.n_inputs)
        elif entry == ARRAY:
            flags.append(True)
    return list(zip(index, flags))


def _infer_shape(op: Op, node: Apply, input_shapes: list, first_index: int) -> tuple:
    from symgraph.ops.math import cast
    from symgraph.ops.math import sum as tsum

    index = node.inputs[first_index:]
    values = [v if is_array else shape_value(v) for v, is_array in _arrays_marked(op, index)]
    shapes_of = dict(zip(index, input_shapes[first_index:]))
    arrays = [p for e, p in zip(op.idx_list, split_values(op.idx_list, values)) if e == ARRAY]
    shapes = [(tsum(cast(a, "int64")),) if a.dtype == "bool" else shapes_of[a] for a in arrays]
    statics = [(None,) if a.dtype == "bool" else a.type.shape for a in arrays]
    return advanced_shape(op.idx_list, input_shapes[0], split_values(op.idx_list, values),
                          shapes, [_consumed(a) for a in arrays],
                          lambda s: _broadcast_index(s, statics))


def _runtime_region(node: Apply, x_shape: tuple, idx_list: tuple, values: list) -> tuple:
    """The region's shape from the index values, checking the index arrays broadcast."""
    parts = split_values(idx_list, values)
    sym = split_values(idx_list, node.inputs[len(node.inputs) - len(values):])
    arrays = [(p, s) for e, p, s in zip(idx_list, parts, sym) if e == ARRAY]
    shapes = [(int(np.count_nonzero(a)),) if a.dtype == bool else a.shape for a, _ in arrays]
    statics = [(None,) if s.dtype == "bool" else s.type.shape for _, s in arrays]
    ints = [[None if p is None else int(p) for p in part] if isinstance(e, SliceSpec) else part
            for e, part in zip(idx_list, parts)]
    consumed = [a.ndim if a.dtype == bool else 1 for a, _ in arrays]
    return advanced_shape(idx_list, x_shape, ints, shapes, consumed,
                          lambda s: _broadcast_index(s, statics, node.inputs[0]))


def _index_error(node: Apply, exc: IndexError) -> IndexError:
    return IndexError(f"{exc} (indexing {_where_str(node.inputs[0])})")


@dataclass(frozen=True)
class AdvancedSubtensor(Op):
    """x[index] where the index holds integer or boolean arrays (numpy advanced indexing).

    `idx_list` has one entry per index item: ARRAY (an input), a SliceSpec (its given parts
    are inputs) or NEWAXIS. The output is a new array, not a view.
    """

    idx_list: tuple

    def __str__(self) -> str:
        return f"AdvancedSubtensor{{{', '.join(map(str, self.idx_list))}}}"

    def make_node(self, x, *index) -> Apply:
        x = as_tensor_variable(x)
        index = _advanced_inputs(self, x, index)
        return Apply(self, [x, *index], [TensorType(x.dtype, _static_shape(self, x, index))()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, values = inputs[0], inputs[1:]
        _runtime_region(node, x.shape, self.idx_list, values)
        try:
            return [np.asarray(x[numpy_index(self.idx_list, values)])]  # never a numpy scalar
        except IndexError as exc:
            raise _index_error(node, exc) from exc

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [_infer_shape(self, node, input_shapes, 1)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, index = inputs[0], inputs[1:]
        if x.dtype in DISCRETE_DTYPES:
            return [None] * len(inputs)
        gx = AdvancedIncSubtensor(self.idx_list)(_zeros_like(x), output_grads[0], *index)
        return [gx] + [None] * len(index)

    def inc_op(self, set_instead_of_inc: bool, inplace: bool) -> Op:
        return AdvancedIncSubtensor(self.idx_list, inplace, set_instead_of_inc)


@dataclass(frozen=True)
class AdvancedIncSubtensor(Op):
    """x with x[index] (advanced) incremented by y, repeats accumulating, or set to y."""

    idx_list: tuple
    inplace: bool = False
    set_instead_of_inc: bool = False

    @property
    def destroy_map(self) -> dict[int, list[int]]:  # type: ignore[override]
        return {0: [0]} if self.inplace else {}

    def __str__(self) -> str:
        mode = ("Inplace" if self.inplace else "") + ("Set" if self.set_instead_of_inc else "Inc")
        return f"AdvancedIncSubtensor{{{mode};{', '.join(map(str, self.idx_list))}}}"

    def make_node(self, x, y, *index) -> Apply:
        x = as_tensor_variable(x)
        index = _advanced_inputs(self, x, index)
        y = conform_value(self, x, y, _static_shape(self, x, index))
        return Apply(self, [x, y, *index], [x.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, y, values = inputs[0], inputs[1], inputs[2:]
        check_value_fits(node, _runtime_region(node, x.shape, self.idx_list, values), y)
        out = x if self.inplace else x.copy()
        index = numpy_index(self.idx_list, values)
        try:
            if self.set_instead_of_inc:
                out[index] = y
            else:
                np.add.at(out, index, y)
        except IndexError as exc:
            raise _index_error(node, exc) from exc
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[0]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, y, index = inputs[0], inputs[1], inputs[2:]
        gz = output_grads[0]
        gx = gy = None
        if x.dtype not in DISCRETE_DTYPES:
            gx = (AdvancedIncSubtensor(self.idx_list, set_instead_of_inc=True)(
                gz, constant(0, dtype=gz.dtype), *index) if self.set_instead_of_inc else gz)
        if y.dtype not in DISCRETE_DTYPES:
            gy = reduce_to(y, AdvancedSubtensor(self.idx_list)(gz, *index))
        return [gx, gy] + [None] * len(index)


# --- entry points ----------------------------------------------------------------------------


def advanced_getitem(x: Variable, entries: list):
    """The advanced op for parsed index `entries` (see subtensor.parse_index)."""
    (kind, first), rest = entries[0], entries[1:]
    if (kind == ARRAY and first.ndim == 1 and first.dtype in INTEGER_DTYPES
            and all(k == SLICE and v == (None, None, None) for k, v in rest)):
        return AdvancedSubtensor1()(x, first)
    idx_list, inputs = [], []
    for kind, value in entries:
        if kind in (INT, ARRAY):  # integer scalars next to arrays are advanced indices too
            idx_list.append(ARRAY)
            inputs.append(value)
        elif kind == SLICE:
            idx_list.append(SliceSpec(*(p is not None for p in value)))
            inputs.extend(p for p in value if p is not None)
        else:
            idx_list.append(NEWAXIS)
    idx_list = list(strip_full_slices(idx_list))
    return AdvancedSubtensor(tuple(idx_list))(x, *inputs)


_TAKE_MODES = ("raise", "wrap", "clip")


def take(a, indices, axis=None, mode="raise"):
    """Elements of `a` at `indices` along `axis` (numpy.take; axis None: the flattened array).

    Parameters
    ----------
    a : tensor.
    indices : integer tensor (or list) of any number of dimensions.
    axis : int or None.
    mode : 'raise' (out-of-range indices are an error), 'wrap' or 'clip'.

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> W, words = T.matrix("W"), T.ivector("words")
    >>> embedded = T.take(W, words, axis=0)  # W[words]
    """
    from symgraph.ops.math import clip

    a = as_tensor_variable(a)
    if isinstance(indices, (list, tuple)) and len(indices) == 0:
        indices = np.zeros(0, dtype="int64")
    indices = as_tensor_variable(indices)
    if indices.dtype not in INTEGER_DTYPES:
        raise TypeError(f"take: indices {_where_str(indices)} must be integers, got "
                        f"{indices.type}")
    if mode not in _TAKE_MODES:
        raise ValueError(f"take: mode must be one of {_TAKE_MODES}, got {mode!r}")
    if axis is None:
        a, axis = a.flatten(), 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"take: axis must be an int or None, got {axis!r}")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"take: axis {axis} is out of range for {_where_str(a)} "
                         f"({a.ndim} dimensions)")
    axis = int(axis) % a.ndim
    if mode == "clip":
        indices = clip(indices, 0, a.shape[axis] - 1)
    elif mode == "wrap":
        indices = indices % a.shape[axis]
    return getitem(a, (slice(None),) * axis + (indices,))

