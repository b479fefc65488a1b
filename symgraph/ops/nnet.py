"""Neural-network ops: softmax, log-softmax, one-hot, crossentropies (fused and stable).

Activations (relu, elu, ...) and the elementwise crossentropies are graphs of Elemwise ops in
ops/activations.py, re-exported here (Theano's T.nnet has them).

Gradient design: every gradient below is a graph of Elemwise / CAReduce / OneHot ops rather
than a dedicated *Grad op (Theano's SoftmaxGrad, CrossentropyCategorical1HotGrad). The
backends fuse ``sm * (gz - sum(gz * sm))`` into one loop nest anyway, and a graph needs no
extra lowering per backend and differentiates again for free (Hessians, double backprop).
The one exception is CrossentropySoftmax1HotWithBiasDx, kept as an op because the stabilize
rewrite and the backends target it by name; its own L_op is again a graph.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Constant, Op
from symgraph.ops import math
from symgraph.ops.activations import (  # noqa: F401  (T.nnet's names)
    binary_crossentropy,
    elu,
    hard_sigmoid,
    relu,
    selu,
    sigmoid_binary_crossentropy,
    softsign,
    ultra_fast_sigmoid,
)
from symgraph.ops.elemwise import DimShuffle, is_elemwise
from symgraph.ops.math import sigmoid, softplus
from symgraph.ops.shape import dimshuffle, shape_i
from symgraph.types import FLOAT_DTYPES, INTEGER_DTYPES, TensorType, normalize_dtype, upcast
from symgraph.variable import as_tensor_variable, constant

__all__ = [
    "Softmax", "LogSoftmax", "OneHot", "CrossentropyCategorical1Hot",
    "CrossentropySoftmaxArgmax1HotWithBias", "CrossentropySoftmax1HotWithBiasDx",
    "softmax", "log_softmax", "logsoftmax", "softmax_with_bias", "softmax_graph",
    "to_one_hot", "one_hot", "crossentropy_categorical_1hot", "categorical_crossentropy",
    "crossentropy_softmax_argmax_1hot_with_bias", "crossentropy_softmax_1hot_with_bias",
    "crossentropy_softmax_1hot", "crossentropy_softmax_1hot_with_bias_dx",
    "binary_crossentropy", "sigmoid_binary_crossentropy", "relu", "elu", "selu", "softsign",
    "hard_sigmoid", "ultra_fast_sigmoid", "sigmoid", "softplus",
]


# --- input checks (graph-build time, naming the user's variable) ------------------------------


def float_tensor(x, what: str, ndim: int | None = None, role: str = "input"):
    """`x` as a float tensor (of rank `ndim` if given), or a TypeError naming it."""
    x = as_tensor_variable(x)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what}: the {role} {x}{x.where()} must be a float tensor, got {x.type}")
    if ndim is not None and x.ndim != ndim:
        raise TypeError(
            f"{what}: the {role} {x}{x.where()} must have {ndim} dimensions, got {x.ndim} "
            f"({x.type})"
        )
    return x


def _class_indices(y, what: str):
    """`y` as an integer vector of class indices, or a TypeError naming it."""
    y = as_tensor_variable(y)
    if y.dtype not in INTEGER_DTYPES:
        raise TypeError(
            f"{what}: the class indices {y}{y.where()} must be an integer vector, got {y.type}"
        )
    if y.ndim != 1:
        raise TypeError(
            f"{what}: the class indices {y}{y.where()} must be a vector (1 dimension), got "
            f"{y.ndim} dimensions ({y.type})"
        )
    return y


def _same_static(a: int | None, b: int | None, what: str) -> int | None:
    """Merge two static sizes that must agree."""
    if a is not None and b is not None and a != b:
        raise ValueError(f"{what}: static sizes {a} and {b} differ")
    return a if a is not None else b


def _check_labels(node: Apply, matrix: int, shape: tuple, y: np.ndarray) -> None:
    """Run-time check of the labels (last input) against the matrix (input `matrix`) they index."""
    name, labels = node.inputs[matrix], node.inputs[-1]
    if y.shape[0] != shape[0]:
        raise ValueError(
            f"{node.op}: {name} has {shape[0]} rows but the class indices {labels} have "
            f"{y.shape[0]} entries"
        )
    bad = (y < 0) | (y >= shape[1])
    if np.any(bad):
        raise IndexError(
            f"{node.op}: class index {y[bad][0]} in {labels} is out of range [0, {shape[1]}) "
            f"for {name} with {shape[1]} columns"
        )


def _is_zero(g) -> bool:
    """True for the zeros grad() passes for an unused output, so its term can be skipped."""
    if is_elemwise(g, "second"):
        g = g.owner.inputs[1]
    while g.owner is not None and isinstance(g.owner.op, DimShuffle):
        g = g.owner.inputs[0]
    return isinstance(g, Constant) and not np.any(g.data)


def _col(v):
    """A vector as a broadcastable column (v[:, None])."""
    return dimshuffle(v, (0, "x"))


# --- softmax and log-softmax ---------------------------------------------------------------


def _axis_of(x, axis: int | None, what: str) -> int | None:
    """`axis` made non-negative for `x`, or a ValueError naming `x`."""
    if axis is None:
        return None
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for {x}{x.where()} ({x.type})")
    return int(axis) % x.ndim


def _softmax_grad(gz, sm, axis: int | None):
    """Vector-Jacobian product of softmax: gz*sm - sm*sum(gz*sm, axis)."""
    gz_sm = gz * sm
    return gz_sm - sm * math.sum(gz_sm, axis=axis, keepdims=True)


@dataclass(frozen=True)
class _AxisSoftmax(Op):
    """Shared make_node / infer_shape of Softmax and LogSoftmax."""

    axis: int | None = -1

    def make_node(self, x) -> Apply:
        what = "softmax" if isinstance(self, Softmax) else "log_softmax"
        x = float_tensor(x, what)
        _axis_of(x, self.axis, what)
        return Apply(self, [x], [x.type()])

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[0]]


@dataclass(frozen=True)
class Softmax(_AxisSoftmax):
    """exp(x - max) / sum(exp(x - max)) over `axis` (None: over all axes)."""

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        if x.size == 0:
            return [x.copy()]
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        return [e / e.sum(axis=self.axis, keepdims=True)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [_softmax_grad(output_grads[0], outputs[0], self.axis)]


@dataclass(frozen=True)
class LogSoftmax(_AxisSoftmax):
    """x - max - log(sum(exp(x - max))) over `axis`: finite for any finite logits."""

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        if x.size == 0:
            return [x.copy()]
        z = x - x.max(axis=self.axis, keepdims=True)
        return [z - np.log(np.exp(z).sum(axis=self.axis, keepdims=True))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        gz = output_grads[0]
        return [gz - math.exp(outputs[0]) * math.sum(gz, axis=self.axis, keepdims=True)]


def softmax(c, axis: int | None = -1):
    """Softmax of `c` over `axis` (Theano's default: the last axis, i.e. each row of a matrix).

    Parameters
    ----------
    c : float tensor (logits).
    axis : int, or None for all axes together.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x = T.dmatrix("x")
    >>> T.nnet.softmax(x).eval({x: np.array([[0.0, 0.0], [1e4, 0.0]])})
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    c = float_tensor(c, "softmax")
    return Softmax(_axis_of(c, axis, "softmax"))(c)


def log_softmax(c, axis: int | None = -1):
    """log(softmax(c)) over `axis`, computed stably (finite for logits of any size).

    Parameters
    ----------
    c : float tensor (logits).
    axis : int, or None for all axes together.
    """
    c = float_tensor(c, "log_softmax")
    return LogSoftmax(_axis_of(c, axis, "log_softmax"))(c)


logsoftmax = log_softmax


def softmax_with_bias(x, b):
    """softmax(x + b) over the rows of the matrix `x` (Theano's SoftmaxWithBias, unfused)."""
    return softmax(as_tensor_variable(x) + b, axis=-1)


def softmax_graph(c):
    """exp(c) / sum(exp(c)) over the last axis, as a plain graph (not stabilized)."""
    e = math.exp(c)
    return e / math.sum(e, axis=-1, keepdims=True)


# --- one-hot ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _identity(n: int, dtype: str) -> np.ndarray:
    eye = np.eye(n, dtype=dtype)
    eye.flags.writeable = False
    return eye


@dataclass(frozen=True)
class OneHot(Op):
    """Row i is the one-hot encoding of y[i] among `nb_class` classes (a scalar input)."""

    dtype: str

    def make_node(self, y, nb_class) -> Apply:
        y = _class_indices(y, "to_one_hot")
        n = as_tensor_variable(nb_class)
        if n.ndim != 0 or n.dtype not in INTEGER_DTYPES:
            raise TypeError(f"to_one_hot: nb_class {n}{n.where()} must be an integer scalar, "
                            f"got {n.type}")
        static = int(n.data) if isinstance(n, Constant) else None
        return Apply(self, [y, n], [TensorType(self.dtype, (y.type.shape[0], static))()])

    def perform(self, node: Apply, inputs: list) -> list:
        y, n = inputs[0], int(inputs[1])
        if n < 0:
            raise ValueError(f"to_one_hot: nb_class {node.inputs[1]} is negative ({n})")
        # Rows of the identity, taken at the labels seen as unsigned (a negative one is then
        # huge, and `take` raises): one numpy call. The fused crossentropy's expansion
        # (opt/expand.py) runs this in every train step, where each numpy call costs several
        # microseconds (its code is out of cache after the GEMMs: ~25 us in the MLP step for
        # the two calls this took before). 8-byte labels would wrap back to negative indices
        # on their way to intp: their largest is checked first.
        unsigned = y.view(f"u{y.itemsize}")
        try:
            if y.itemsize == 8 and y.size and int(unsigned.max()) >= n:
                raise IndexError
            return [_identity(n, self.dtype).take(unsigned, axis=0, mode="raise")]
        except IndexError:
            bad = (y < 0) | (y >= n)
            raise IndexError(f"to_one_hot: class index {y[bad][0]} in {node.inputs[0]} is out "
                             f"of range [0, {n})") from None

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        n = node.inputs[1]
        return [(input_shapes[0][0], int(n.data) if isinstance(n, Constant) else n)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None, None]


def to_one_hot(y, nb_class, dtype=None):
    """A matrix whose row i is the one-hot encoding of the class index y[i].

    Parameters
    ----------
    y : integer vector with values in [0, nb_class).
    nb_class : int or integer scalar variable, the number of classes (columns).
    dtype : dtype of the result (default floatX).
    """
    return OneHot(normalize_dtype(dtype))(y, nb_class)


one_hot = to_one_hot


# --- categorical crossentropy ----------------------------------------------------------------


@dataclass(frozen=True)
class CrossentropyCategorical1Hot(Op):
    """nll[i] = -log(coding_dist[i, y[i]]) for a matrix of probabilities and integer labels."""

    def make_node(self, coding_dist, true_one_of_n) -> Apply:
        what = "crossentropy_categorical_1hot"
        c = float_tensor(coding_dist, what, 2, "coding distribution")
        y = _class_indices(true_one_of_n, what)
        rows = _same_static(c.type.shape[0], y.type.shape[0], f"{what}: rows of {c} vs {y}")
        return Apply(self, [c, y], [TensorType(c.dtype, (rows,))()])

    def perform(self, node: Apply, inputs: list) -> list:
        c, y = inputs
        _check_labels(node, 0, c.shape, y)
        return [-np.log(c[np.arange(y.shape[0]), y])]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[0][0],)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # switch, not onehot * (-gy / c): where c underflowed to 0 off the label, 0 * inf = NaN.
        c, y = inputs
        picked = OneHot("bool")(y, shape_i(c, 1))
        return [math.switch(picked, -_col(output_grads[0]) / c, constant(0, dtype=c.dtype)), None]


crossentropy_categorical_1hot = CrossentropyCategorical1Hot()


def categorical_crossentropy(coding_dist, true_dist):
    """Crossentropy between each row of `coding_dist` and the true distribution.

    Parameters
    ----------
    coding_dist : float tensor of probabilities, classes on the last axis (e.g. a softmax).
    true_dist : either a tensor of the same rank (one-hot or probability rows):
        ``-sum(true_dist * log(coding_dist), axis=-1)``, or an integer vector of class
        indices for a matrix `coding_dist`: ``-log(coding_dist[arange(n), true_dist])``.

    Notes
    -----
    ``categorical_crossentropy(softmax(x), y)`` overflows to inf for large logits; for logits
    use crossentropy_softmax_1hot (the fused op the stabilize rewrite targets) or log_softmax.
    """
    c = float_tensor(coding_dist, "categorical_crossentropy", role="coding distribution")
    t = as_tensor_variable(true_dist)
    if t.ndim == c.ndim:
        return -math.sum(t * math.log(c), axis=c.ndim - 1)
    if t.ndim == c.ndim - 1:
        return crossentropy_categorical_1hot(c, t)
    raise TypeError(
        f"categorical_crossentropy: rank mismatch between the coding distribution {c}{c.where()} "
        f"({c.type}) and the true distribution {t}{t.where()} ({t.type}); expected the same "
        f"rank (probabilities) or one less (integer class indices)"
    )


# --- fused softmax + crossentropy for integer labels -----------------------------------------


@dataclass(frozen=True)
class CrossentropySoftmaxArgmax1HotWithBias(Op):
    """(nll, softmax, argmax) of the logits x + b for labels y; a stable log-softmax inside."""

    def make_node(self, x, b, y_idx) -> Apply:
        what = "crossentropy_softmax_argmax_1hot_with_bias"
        x = float_tensor(x, what, 2, "logits")
        b = float_tensor(b, what, 1, "bias")
        y = _class_indices(y_idx, what)
        dtype = upcast(x.dtype, b.dtype)
        x, b = math.cast(x, dtype), math.cast(b, dtype)
        rows = _same_static(x.type.shape[0], y.type.shape[0], f"{what}: rows of {x} vs {y}")
        b_size = None if b.type.shape[0] == 1 else b.type.shape[0]  # size 1 broadcasts
        cols = _same_static(x.type.shape[1], b_size, f"{what}: columns of {x} vs bias {b}")
        outs = [TensorType(dtype, (rows,))(), TensorType(dtype, (rows, cols))(),
                TensorType(y.dtype, (rows,))()]
        return Apply(self, [x, b, y], outs)

    def perform(self, node: Apply, inputs: list) -> list:
        x, b, y = inputs
        if node.inputs[1].type.shape[0] != 1 and b.shape[0] != x.shape[1]:
            raise ValueError(f"{self}: the bias {node.inputs[1]} has {b.shape[0]} entries but "
                             f"the logits {node.inputs[0]} have {x.shape[1]} columns")
        _check_labels(node, 0, x.shape, y)
        z = x + b
        shifted = z - z.max(axis=1, keepdims=True, initial=-np.inf)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        nll = np.log(total[:, 0]) - shifted[np.arange(y.shape[0]), y]
        am = np.argmax(z, axis=1) if z.shape[1] else np.zeros(z.shape[0], "int64")
        return [nll.astype(x.dtype), (e / total).astype(x.dtype), am.astype(y.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        x_shape = input_shapes[0]
        return [(x_shape[0],), x_shape, (x_shape[0],)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, b, y = inputs
        sm = outputs[1]
        g_nll, g_sm = output_grads[0], output_grads[1]  # argmax is piecewise constant
        terms = []
        if not _is_zero(g_nll):
            terms.append(crossentropy_softmax_1hot_with_bias_dx(g_nll, sm, y))
        if not _is_zero(g_sm):
            terms.append(_softmax_grad(g_sm, sm, 1))
        dx = math.add(*terms) if len(terms) > 1 else (terms[0] if terms else math.zeros_like(x))
        db = math.sum(dx, axis=0)
        if b.type.shape[0] == 1:
            db = math.sum(db, keepdims=True)
        return [dx, db, None]


@dataclass(frozen=True)
class CrossentropySoftmax1HotWithBiasDx(Op):
    """dx = (sm - one_hot(y)) * dy[:, None]: the fused crossentropy's gradient wrt logits."""

    def make_node(self, dy, sm, y_idx) -> Apply:
        what = "crossentropy_softmax_1hot_with_bias_dx"
        dy = float_tensor(dy, what, 1, "output gradient")
        sm = float_tensor(sm, what, 2, "softmax")
        y = _class_indices(y_idx, what)
        dtype = upcast(dy.dtype, sm.dtype)
        dy, sm = math.cast(dy, dtype), math.cast(sm, dtype)
        rows = _same_static(sm.type.shape[0], y.type.shape[0], f"{what}: rows of {sm} vs {y}")
        _same_static(None if dy.type.shape[0] == 1 else dy.type.shape[0], rows,
                     f"{what}: length of {dy} vs rows of {sm}")
        return Apply(self, [dy, sm, y], [TensorType(dtype, (rows, sm.type.shape[1]))()])

    def perform(self, node: Apply, inputs: list) -> list:
        dy, sm, y = inputs
        _check_labels(node, 1, sm.shape, y)
        if node.inputs[0].type.shape[0] != 1 and dy.shape[0] != sm.shape[0]:
            raise ValueError(f"{self}: the output gradient {node.inputs[0]} has {dy.shape[0]} "
                             f"entries but the softmax {node.inputs[1]} has {sm.shape[0]} rows")
        dx = sm.copy()
        dx[np.arange(y.shape[0]), y] -= 1
        dx *= dy[:, None]
        return [dx]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[1]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        dy, sm, y = inputs
        g = output_grads[0]
        target = OneHot(sm.dtype)(y, shape_i(sm, 1))
        g_dy = math.sum((sm - target) * g, axis=1)
        if dy.type.shape[0] == 1:
            g_dy = math.sum(g_dy, keepdims=True)
        return [g_dy, g * _col(dy), None]


crossentropy_softmax_argmax_1hot_with_bias = CrossentropySoftmaxArgmax1HotWithBias()
crossentropy_softmax_1hot_with_bias_dx = CrossentropySoftmax1HotWithBiasDx()


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """[nll, softmax] of the logits x + b for integer labels y_idx (stable for any logits)."""
    return crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx)[:2]


def crossentropy_softmax_1hot(x, y_idx):
    """[nll, softmax] of the logits x for integer labels y_idx (stable for any logits).

    Parameters
    ----------
    x : float matrix of logits, one row per example.
    y_idx : integer vector of class indices, one per row of `x`.

    Returns
    -------
    [nll, sm] : the vector -log(softmax(x)[i, y_idx[i]]) and the matrix softmax(x).
    """
    x = float_tensor(x, "crossentropy_softmax_1hot", 2, "logits")
    zero_bias = constant(np.zeros(1, dtype=x.dtype))  # static size 1: broadcasts over classes
    return crossentropy_softmax_1hot_with_bias(x, zero_bias, y_idx)
