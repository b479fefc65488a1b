"""Theano's two-level hierarchical softmax, ``T.nnet.h_softmax``, built from existing ops.

The outputs are split into `n_classes` classes of `n_outputs_per_class`: p(output) is
p(its class | x) times p(output | its class, x), each a softmax. Asked for one target per
example, only that example's class's second layer is computed (the point of the method:
n_classes + n_outputs_per_class scores instead of n_outputs).
"""

from __future__ import annotations

from symgraph.ops.blas import describe
from symgraph.variable import as_tensor_variable

__all__ = ["h_softmax"]


def _softmax_last(scores):
    """softmax over the last axis of a 3-d tensor (rows folded for the 2-d softmax)."""
    from symgraph.ops.nnet import softmax

    b, c, o = (scores.shape[k] for k in range(3))
    return softmax(scores.reshape((b * c, o), ndim=2)).reshape((b, c, o), ndim=3)


def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2,
              target=None):
    """x: (batch, features); W1: (features, n_classes), b1: (n_classes,); W2: (n_classes,
    features, n_outputs_per_class), b2: (n_classes, n_outputs_per_class). Without `target`:
    (batch, n_outputs), every output's probability; with `target` (batch,) ints: (batch,),
    each example's target's probability. `batch_size` is accepted for Theano's signature."""
    from symgraph.ops.alloc import arange
    from symgraph.ops.blas import batched_dot, dot
    from symgraph.ops.linalg import tensordot
    from symgraph.ops.nnet import softmax

    if n_classes * n_outputs_per_class < n_outputs:
        raise ValueError(f"h_softmax: {n_classes} classes of {n_outputs_per_class} outputs "
                         f"cannot hold {n_outputs} outputs")
    x, W2, b2 = as_tensor_variable(x), as_tensor_variable(W2), as_tensor_variable(b2)
    if x.ndim != 2 or W2.ndim != 3:
        raise TypeError(f"h_softmax: x {describe(x)} must be a matrix and W2 {describe(W2)} a "
                        f"3-d tensor, got {x.ndim} and {W2.ndim} dimensions")
    class_probs = softmax(dot(x, W1) + b1)  # (batch, n_classes)
    if target is None:
        scores = tensordot(x, W2, axes=[[1], [1]]) + b2.dimshuffle("x", 0, 1)
        probs = _softmax_last(scores) * class_probs.dimshuffle(0, 1, "x")
        flat = probs.reshape((x.shape[0], n_classes * n_outputs_per_class), ndim=2)
        return flat[:, :n_outputs]
    target = as_tensor_variable(target)
    if target.ndim != 1 or not target.dtype.startswith(("int", "uint")):
        raise TypeError(f"h_softmax: target {describe(target)} must be a vector of ints")
    classes = target // n_outputs_per_class
    within = target % n_outputs_per_class
    rows = arange(x.shape[0])
    scores = batched_dot(x, W2[classes]) + b2[classes]  # (batch, n_outputs_per_class)
    return softmax(scores)[rows, within] * class_probs[rows, classes]
