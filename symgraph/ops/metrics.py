"""Evaluation helpers Theano keeps among its nnet ops: confusion_matrix.

Built from existing ops (unique, one-hot comparisons, a product), so every backend runs it.
"""

from __future__ import annotations

from symgraph.ops.blas import describe, dot
from symgraph.variable import as_tensor_variable

__all__ = ["confusion_matrix"]


def confusion_matrix(actual, pred):
    """``[conf_mat, order]``: ``order`` the sorted labels found in either vector, and
    ``conf_mat[i, j]`` how many samples of actual label ``order[i]`` were predicted
    ``order[j]`` (int64), as Theano's ``T.nnet.confusion_matrix``."""
    from symgraph.ops.extra_ops import unique
    from symgraph.ops.join import concatenate
    from symgraph.ops.math import cast, eq

    actual, pred = as_tensor_variable(actual), as_tensor_variable(pred)
    for name, v in (("actual", actual), ("pred", pred)):
        if v.ndim != 1:
            raise TypeError(f"confusion_matrix: {name} {describe(v)} must be a vector of "
                            f"labels, got {v.ndim} dimensions")
    order = unique(concatenate([actual, pred]))
    one_hot_actual = cast(eq(actual.dimshuffle(0, "x"), order), "int64")
    one_hot_pred = cast(eq(pred.dimshuffle(0, "x"), order), "int64")
    return [dot(one_hot_actual.T, one_hot_pred), order]
