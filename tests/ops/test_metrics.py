"""T.nnet.confusion_matrix (symgraph/ops/metrics.py) against a count by hand."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T


def test_confusion_matrix_counts_label_pairs_in_sorted_label_order():
    actual, pred = T.ivector("actual"), T.ivector("pred")
    f = sg.function([actual, pred], T.nnet.confusion_matrix(actual, pred))
    a = np.array([3, 1, 2, 2, 7, 1], dtype="int32")
    p = np.array([3, 2, 2, 1, 7, 9], dtype="int32")
    conf, order = f(a, p)
    np.testing.assert_array_equal(order, [1, 2, 3, 7, 9])
    want = np.zeros((5, 5), dtype="int64")
    for x, y in zip(a, p):
        want[list(order).index(x), list(order).index(y)] += 1
    np.testing.assert_array_equal(conf, want)
    assert conf.dtype == np.int64 and conf.sum() == len(a)


def test_confusion_matrix_refuses_matrices():
    with pytest.raises(TypeError, match="must be a vector"):
        T.nnet.confusion_matrix(T.imatrix("a"), T.ivector("p"))
