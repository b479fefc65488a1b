"""Shared variables: graph inputs whose value lives in a Storage owned by the backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.graph import Variable
from symgraph.types import TensorType
from symgraph.variable import _TensorOps


class Storage:
    """A box holding one value; compiled functions read and update it in place."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __getstate__(self):
        return {"value": self.value}

    def __setstate__(self, state):
        self.value = state["value"]

    def __repr__(self) -> str:
        return f"Storage({self.value!r})"


class SharedVariable(_TensorOps, Variable):
    """A variable with a persistent value, shared by every function that uses it.

    Functions read the current value at each call, and ``updates`` replace it after the call.
    It has a tensor's methods but is not a TensorVariable, as in Theano (whose shared tensors
    are TensorSharedVariable): ported code tells the two apart, e.g. Lasagne's recurrent
    layers use a TensorVariable initial state as given and repeat a shared one per example.
    """

    is_shared = True

    def __init__(
        self,
        type: TensorType,
        value: np.ndarray,
        name: str | None = None,
        strict: bool = False,
        allow_downcast: bool | None = None,
    ):
        super().__init__(type, name=name)
        self.container = Storage(
            type.filter(value, strict=strict, allow_downcast=allow_downcast, var=self)
        )
        self.default_update = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The current value; a copy unless `borrow` is True."""
        value = self.container.value
        if hasattr(value, "get") and not isinstance(value, np.ndarray) and not return_internal_type:
            return value.get()  # device array -> host copy
        if borrow:
            return value
        return value.copy() if hasattr(value, "copy") else value

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value (checked against the variable's type); copied unless `borrow`."""
        new = self.type.filter(value, var=self)
        if new is value and not borrow and isinstance(new, np.ndarray):
            new = new.copy()
        self.container.value = new

    def zero(self, borrow: bool = False) -> None:
        self.set_value(np.zeros_like(self.container.value), borrow=True)

    @property
    def storage(self) -> Storage:
        return self.container

    def clone(self):
        return self  # the clone of a shared variable is itself: it keeps its one storage

    def alias(self) -> SharedVariable:
        """A distinct variable over the same storage (its own default_update; Theano's
        ``clone(shared, share_inputs=False)``)."""
        new = SharedVariable.__new__(SharedVariable)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_eval_cache", None)
        new.default_update = None
        return new

    def __str__(self) -> str:
        return self.name if self.name is not None else f"<shared {self.type}>"

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_eval_cache", None)
        return state


def shared(
    value: Any,
    name: str | None = None,
    strict: bool = False,
    allow_downcast: bool | None = None,
    borrow: bool = False,
    shape=None,
    broadcastable=None,
    **kwargs,
) -> SharedVariable:
    """A shared variable holding `value` (copied unless `borrow=True`).

    Its type has the dtype of `value` and, as in Theano, no static sizes (so ``set_value``
    may change the shape) unless `shape` or `broadcastable` says otherwise.

    Examples
    --------
    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.zeros(3), name="w")
    >>> w.get_value()
    array([0., 0., 0.])
    """
    if kwargs:
        raise TypeError(f"shared() got unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(value, SharedVariable):
        raise TypeError("shared() got a shared variable; pass its value (x.get_value()) instead")
    if hasattr(value, "owner") and hasattr(value, "type"):
        raise TypeError(f"shared() needs a value, not the symbolic variable {value}")
    if isinstance(value, np.ndarray):
        arr = value if borrow else value.copy()
    elif isinstance(value, np.generic):
        arr = np.asarray(value)
    else:
        arr = np.array(value)
    if arr.dtype == object:
        raise TypeError(f"shared(): cannot store a {type(value).__name__} as a tensor")
    if broadcastable is not None:
        static = tuple(1 if b else None for b in broadcastable)
    elif shape is not None:
        static = tuple(shape)
    else:
        static = (None,) * arr.ndim
    return SharedVariable(
        TensorType(arr.dtype.name, static),
        arr,
        name=name,
        strict=strict,
        allow_downcast=allow_downcast,
    )
