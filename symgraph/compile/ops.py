"""Theano's ``as_op``: wrap a numpy function as an Op with fixed input and output types.

``@as_op(itypes=[T.dmatrix], otypes=[T.dmatrix])`` turns ``def f(x): return ...`` into an op
whose ``perform`` calls ``f`` — handy, but it has no gradient and no native lowering, so every
backend runs it on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from symgraph.graph import Apply, Op, as_types
from symgraph.variable import as_tensor_variable


class FromFunctionOp(Op):
    """An op built by `as_op`: ``fn`` on numpy arrays, with declared input and output types."""

    def __init__(self, fn: Callable, itypes: Sequence, otypes: Sequence,
                 infer_shape: Callable | None = None):
        self._fn = fn
        self.itypes = as_types(itypes)
        self.otypes = as_types(otypes)
        self._infer_shape = infer_shape
        self.__name__ = getattr(fn, "__name__", "FromFunctionOp")
        self.__doc__ = getattr(fn, "__doc__", None)

    def _props(self) -> tuple:
        return (self._fn, tuple(self.itypes), tuple(self.otypes), self._infer_shape)

    def __str__(self) -> str:
        return f"FromFunctionOp{{{self.__name__}}}"

    __repr__ = __str__

    def make_node(self, *inputs) -> Apply:
        if len(inputs) != len(self.itypes):
            raise TypeError(f"{self} takes {len(self.itypes)} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(x) for x in inputs]
        for i, (x, t) in enumerate(zip(inputs, self.itypes)):
            if not t.is_super(x.type):
                raise TypeError(f"{self}: input {i} ({x}{x.where()}) has type {x.type}, "
                                f"expected {t} (as declared in as_op's itypes)")
        return Apply(self, inputs, [t() for t in self.otypes])

    def perform(self, node: Apply, inputs: list) -> list:
        outs = self._fn(*inputs)
        if not isinstance(outs, (list, tuple)):
            outs = (outs,)
        if len(outs) != len(self.otypes):
            raise ValueError(f"{self}: the function returned {len(outs)} values, but otypes "
                             f"declares {len(self.otypes)}")
        return [np.asarray(o, dtype=t.dtype) for o, t in zip(outs, self.otypes)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        if self._infer_shape is None:
            raise NotImplementedError(f"{self} has no infer_shape (pass infer_shape= to as_op)")
        return self._infer_shape(node, input_shapes)

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError(f"{self} was made by as_op and has no gradient; write an Op "
                                  "with a grad method to differentiate through it")

    def __reduce__(self):
        # the decorated name now holds this op, not the function: pickle by that name
        return (_load_back, (self._fn.__module__, self._fn.__qualname__))


def _load_back(module: str, qualname: str):
    import importlib

    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def as_op(itypes: Sequence, otypes: Sequence, infer_shape: Callable | None = None):
    """Decorator: a numpy function becomes an Op (Theano's ``theano.compile.ops.as_op``).

    Parameters
    ----------
    itypes, otypes : list of TensorType (or constructors such as ``T.dmatrix``)
    infer_shape : callable(node, input_shapes) -> list of output shapes, optional

    Examples
    --------
    >>> import numpy as np, symgraph as sg, symgraph.tensor as T
    >>> @as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix])
    ... def numpy_dot(a, b):
    ...     return np.dot(a, b)
    >>> x, y = T.dmatrix("x"), T.dmatrix("y")
    >>> sg.function([x, y], numpy_dot(x, y))(np.eye(2), np.ones((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """
    if not isinstance(itypes, (list, tuple)) or not isinstance(otypes, (list, tuple)):
        raise TypeError("as_op: itypes and otypes must be lists of types (e.g. [T.dmatrix])")
    if infer_shape is not None and not callable(infer_shape):
        raise TypeError("as_op: infer_shape must be callable(node, input_shapes)")

    def decorator(fn: Callable) -> FromFunctionOp:
        return FromFunctionOp(fn, itypes, otypes, infer_shape)

    return decorator
