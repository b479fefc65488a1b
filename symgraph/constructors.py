"""Theano's variable constructors: scalar .. tensor7, with dtype prefixes and plural forms.

``fmatrix('x')`` is a float32 matrix, ``ivector`` int32, ``dscalars('a', 'b')`` two float64
scalars; the unprefixed forms (``matrix``) take ``dtype`` and default to ``config.floatX``.
"""

from __future__ import annotations

from collections.abc import Callable

from symgraph.config import config
from symgraph.types import ALL_DTYPES, TensorType, normalize_dtype

PREFIXES = {
    "b": "int8",
    "w": "int16",
    "i": "int32",
    "l": "int64",
    "f": "float32",
    "d": "float64",
    "c": "complex64",
    "z": "complex128",
}

# name -> static shape (None: any size, 1: broadcastable)
KINDS = {
    "scalar": (),
    "vector": (None,),
    "matrix": (None, None),
    "row": (1, None),
    "col": (None, 1),
    "tensor3": (None,) * 3,
    "tensor4": (None,) * 4,
    "tensor5": (None,) * 5,
    "tensor6": (None,) * 6,
    "tensor7": (None,) * 7,
}

_PLURAL = {
    "scalar": "scalars",
    "vector": "vectors",
    "matrix": "matrices",
    "row": "rows",
    "col": "cols",
    "tensor3": "tensor3s",
    "tensor4": "tensor4s",
    "tensor5": "tensor5s",
    "tensor6": "tensor6s",
    "tensor7": "tensor7s",
}


def _single(kind: str, fixed_dtype: str | None) -> Callable:
    shape = KINDS[kind]

    def make(name: str | None = None, dtype=None, shape=shape):
        return TensorType(fixed_dtype or normalize_dtype(dtype), shape)(name)

    make.__name__ = (_prefix_of(fixed_dtype) or "") + kind
    make.__doc__ = f"A symbolic {fixed_dtype or 'floatX'} {kind} named `name`."
    return make


def _plural(kind: str, fixed_dtype: str | None) -> Callable:
    single = _single(kind, fixed_dtype)

    def make(*names, dtype=None):
        kw = {"dtype": dtype} if fixed_dtype is None else {}
        if len(names) == 1 and isinstance(names[0], int):
            return [single(None, **kw) for _ in range(names[0])]
        if len(names) == 1:  # Theano iterates over its one argument: a list, or a string's
            names = names[0]  # letters ('xy' makes x and y), and returns one variable for 'x'
            if len(names) == 1:
                return single(names[0], **kw)
        return [single(n, **kw) for n in names]

    make.__name__ = (_prefix_of(fixed_dtype) or "") + _PLURAL[kind]
    return make


def _prefix_of(dtype: str | None) -> str | None:
    return next((p for p, d in PREFIXES.items() if d == dtype), None)


def tensor(*args, dtype=None, shape=None, name=None, broadcastable=None):
    """A symbolic tensor: ``tensor(dtype, shape=..., name=...)`` or ``tensor(name, shape=...)``.

    Theano's ``tensor(dtype, broadcastable, name)`` positional form works too.
    """
    args = list(args)
    if args and isinstance(args[0], str) and (args[0] in ALL_DTYPES or args[0] == "floatX"):
        dtype = args.pop(0)
    elif args and isinstance(args[0], str):
        name = args.pop(0)
    if args and isinstance(args[0], (tuple, list)):
        shape = args.pop(0)
    if args and isinstance(args[0], str):
        name = args.pop(0)
    if args:
        raise TypeError(f"tensor(): unexpected arguments {args}")
    if shape is None and broadcastable is None:
        raise TypeError("tensor() needs shape= (a tuple of ints or None) or broadcastable=")
    return TensorType(normalize_dtype(dtype), shape, broadcastable=broadcastable)(name)


CONSTRUCTORS: dict[str, Callable] = {}
for _kind in KINDS:
    CONSTRUCTORS[_kind] = _single(_kind, None)
    CONSTRUCTORS[_PLURAL[_kind]] = _plural(_kind, None)
    for _p, _dtype in PREFIXES.items():
        CONSTRUCTORS[_p + _kind] = _single(_kind, _dtype)
        CONSTRUCTORS[_p + _PLURAL[_kind]] = _plural(_kind, _dtype)

globals().update(CONSTRUCTORS)
__all__ = ["tensor", "TensorType", "config", *CONSTRUCTORS]
