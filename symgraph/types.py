"""TensorType: a dtype and a static shape; dtype tables; upcasting; filtering of runtime values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.config import config

INT_DTYPES = ("int8", "int16", "int32", "int64")
UINT_DTYPES = ("uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
INTEGER_DTYPES = INT_DTYPES + UINT_DTYPES
DISCRETE_DTYPES = ("bool",) + INTEGER_DTYPES
CONTINUOUS_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES
ALL_DTYPES = DISCRETE_DTYPES + CONTINUOUS_DTYPES

# Theano's `upgrade_to_float`: small integers fit exactly in float32, larger ones need float64.
_FLOAT_OF = {
    "bool": "float32",
    "int8": "float32",
    "uint8": "float32",
    "int16": "float32",
    "uint16": "float32",
    "int32": "float64",
    "uint32": "float64",
    "int64": "float64",
    "uint64": "float64",
}


def upcast(*dtypes: str) -> str:
    """The dtype numpy gives when combining arrays of these dtypes."""
    return np.result_type(*[np.dtype(d) for d in dtypes]).name


def upgrade_to_float(dtype: str) -> str:
    """The float dtype that represents every value of `dtype` (floats map to themselves)."""
    return _FLOAT_OF.get(dtype, dtype)


def normalize_dtype(dtype: Any) -> str:
    """'floatX' and numpy spellings to a canonical dtype name."""
    if dtype == "floatX" or dtype is None:
        return config.floatX
    name = np.dtype(dtype).name
    if name not in ALL_DTYPES:
        raise TypeError(f"unsupported dtype {name!r}; supported: {', '.join(ALL_DTYPES)}")
    return name


_NDIM_NAMES = {0: "scalar", 1: "vector", 2: "matrix"}


class TensorType:
    """The type of a tensor variable: a dtype and a static shape.

    Each entry of ``shape`` is an int (a size known when the graph is built) or None.
    A size of 1 means the dimension broadcasts. ``TensorType('float64', (False, True))``
    (Theano's broadcastable spelling) is accepted too.

    Examples
    --------
    >>> t = TensorType("float32", shape=(None, 1))
    >>> t.broadcastable
    (False, True)
    """

    __slots__ = ("dtype", "shape", "_hash", "_np_dtype", "_ndim", "_known_sizes")

    def __init__(
        self, dtype: Any, shape: Sequence[Any] | None = None, broadcastable=None, name=None
    ):
        if shape is not None and all(isinstance(s, (bool, np.bool_)) for s in shape) and shape:
            broadcastable, shape = shape, None
        if broadcastable is not None:
            if shape is not None:
                raise TypeError("TensorType takes shape or broadcastable, not both")
            shape = tuple(1 if b else None for b in broadcastable)
        if shape is None:
            raise TypeError("TensorType needs a shape (a tuple of ints or None per dimension)")
        shape = tuple(None if s is None else int(s) for s in shape)
        if any(s is not None and s < 0 for s in shape):
            raise ValueError(f"static shape entries must be >= 0 or None, got {shape}")
        object.__setattr__(self, "dtype", normalize_dtype(dtype))
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_hash", hash((TensorType, self.dtype, shape)))
        # for the per-call fast path of filter()
        object.__setattr__(self, "_np_dtype", np.dtype(self.dtype))
        object.__setattr__(self, "_ndim", len(shape))
        object.__setattr__(self, "_known_sizes",
                           tuple((a, s) for a, s in enumerate(shape) if s is not None))

    def __setattr__(self, name, value):
        raise AttributeError("TensorType is immutable")

    def __reduce__(self):
        return (TensorType, (self.dtype, self.shape))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TensorType)
            and self.dtype == other.dtype
            and self.shape == other.shape
        )

    def __hash__(self) -> int:
        return self._hash

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(s == 1 for s in self.shape)

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def clone(self, dtype: Any = None, shape: Sequence[Any] | None = None) -> TensorType:
        return TensorType(
            self.dtype if dtype is None else dtype, self.shape if shape is None else shape
        )

    def is_super(self, other: TensorType) -> bool:
        """True if every value of `other` is a valid value of this type."""
        return (
            isinstance(other, TensorType)
            and self.dtype == other.dtype
            and self.ndim == other.ndim
            and all(s is None or s == o for s, o in zip(self.shape, other.shape))
        )

    def make_variable(self, name: str | None = None):
        from symgraph.variable import TensorVariable

        return TensorVariable(self, name=name)

    def __call__(self, name: str | None = None):
        return self.make_variable(name)

    def accepts_source(self, name: str, dtype_name: str) -> str:
        """`filter`'s fast test as Python source: true when the value bound to `name` is
        returned unchanged (`dtype_name` bound to this type's numpy dtype). The generated call
        path of a compiled function inlines it (compile/caller.py)."""
        test = (f"type({name}) is ndarray and {name}.dtype is {dtype_name} "
                f"and {name}.ndim == {self._ndim}")
        return test + "".join(f" and {name}.shape[{a}] == {s}" for a, s in self._known_sizes)

    def filter(
        self, value: Any, strict: bool = False, allow_downcast: bool | None = None, var=None
    ) -> np.ndarray:
        """Convert `value` to an ndarray of this type or raise TypeError naming `var`.
        (Its fast test is also `accepts_source`: keep the two alike.)"""
        if type(value) is np.ndarray and value.dtype is self._np_dtype and value.ndim == self._ndim:
            if not self._known_sizes:
                return value
            shape = value.shape
            if all(shape[a] == s for a, s in self._known_sizes):
                return value
        return _filter_slow(self, value, strict, allow_downcast, var)

    def value_zeros(self, shape: Sequence[int]) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype)

    def short_shape(self) -> str:
        return ", ".join("?" if s is None else str(s) for s in self.shape)

    def __str__(self) -> str:
        named = _NDIM_NAMES.get(self.ndim)
        if named and all(s is None for s in self.shape):
            return f"TensorType({self.dtype}, {named})"
        return (
            f"TensorType({self.dtype}, shape=({self.short_shape()}{',' if self.ndim == 1 else ''}))"
        )

    __repr__ = __str__


def describe_value(value: Any) -> str:
    """A short description of a runtime value for error messages."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    arr = np.asarray(value)
    return f"{type(value).__name__} (as array: {arr.dtype}, shape {arr.shape})"


def _var_label(var) -> str:
    if var is None:
        return "value"
    name = getattr(var, "name", None) or "<unnamed>"
    where = getattr(var, "trace", None)
    return f"{name!r}" + (f" (created at {where})" if where else "")


def _filter_slow(ttype: TensorType, value: Any, strict: bool, allow_downcast: bool | None, var):
    label = _var_label(var)
    if strict:
        if not isinstance(value, np.ndarray) or value.dtype.name != ttype.dtype:
            raise TypeError(
                f"Bad input for {label}: expected a {ttype.dtype} ndarray ({ttype}), "
                f"received {describe_value(value)} (strict=True forbids conversion)."
            )
        arr = value
    else:
        if hasattr(value, "get_value") and hasattr(value, "type"):
            raise TypeError(
                f"Bad input for {label}: received the shared variable {value!r}. Pass its value "
                "(shared.get_value()) or leave it out: shared variables are implicit inputs."
            )
        if hasattr(value, "owner") and hasattr(value, "type"):
            raise TypeError(
                f"Bad input for {label}: received the symbolic variable {value!r}; "
                "a compiled function takes numeric values (numpy arrays)."
            )
        try:
            arr = np.asarray(value)
        except Exception as exc:
            raise TypeError(
                f"Bad input for {label}: cannot convert {type(value)} to an array: {exc}"
            ) from exc
        if arr.dtype == object or arr.dtype.kind in "USVM":  # objects, text, dates
            raise TypeError(
                f"Bad input for {label}: expected {ttype}, received {describe_value(value)}"
            )
        if arr.dtype.name != ttype.dtype:
            arr = _cast_checked(ttype, value, arr, allow_downcast, label)
    if arr.ndim != ttype.ndim:
        raise TypeError(
            f"Bad input for {label}: expected {ttype.ndim} dimensions ({ttype}), received "
            f"{describe_value(value)} with {arr.ndim} dimensions."
        )
    for axis, (want, got) in enumerate(zip(ttype.shape, arr.shape)):
        if want is not None and want != got:
            raise ValueError(
                f"Bad input for {label}: expected static shape ({ttype.short_shape()}), received "
                f"shape {arr.shape} (axis {axis} must have size {want})."
            )
    return arr


def _cast_checked(ttype: TensorType, value: Any, arr: np.ndarray, allow_downcast, label: str):
    target = ttype.dtype
    if np.can_cast(arr.dtype, target, "safe") or allow_downcast:
        return arr.astype(target)
    if allow_downcast is None and not isinstance(value, np.ndarray):
        # Theano lets Python numbers and lists through when the cast keeps their values,
        # and always lets float64 literals become floatX.
        converted = arr.astype(target)
        exact = converted.astype(arr.dtype) == arr
        if np.all(exact | (np.isnan(arr) if arr.dtype.kind == "f" else False)):
            return converted
        if arr.dtype.name == "float64" and target == config.floatX:
            return converted
    raise TypeError(
        f"Bad input for {label}: expected {target} ({ttype}), received {describe_value(value)}. "
        f"Converting {arr.dtype} to {target} may lose precision: cast the value first "
        f"(value.astype('{target}')) or pass allow_input_downcast=True to function()."
    )
