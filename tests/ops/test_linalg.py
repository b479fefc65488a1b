"""tensordot and batched_tensordot against numpy for several axes specifications."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops.blas import Dot
from symgraph.ops.linalg import batched_tensordot, tensordot
from symgraph.types import TensorType

rng = np.random.default_rng(3)


def _v(*shape):
    return rng.uniform(-1, 1, size=shape)


TENSORDOT_CASES = [
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3, 4), (4, 5), 1),
    ((2, 3), (3, 2), 0),
    ((3, 4), (3, 4), 2),
    ((2, 3, 4), (4, 3), [[1, 2], [1, 0]]),
    ((2, 3, 4), (5, 2), [[0], [1]]),
    ((4, 3, 2), (2, 3, 4), [[0, -1], [2, 0]]),
    ((2, 3), (3,), [1, 0]),  # a pair of ints, as numpy allows
    ((3,), (3, 2, 2), [[0], [0]]),
    ((2, 3, 4, 5), (3, 6, 5, 2), np.array([[1, 3], [0, 2]])),  # an array, as Lasagne passes
]


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES)
def test_tensordot_matches_numpy(sa, sb, axes):
    check_op(lambda a, b: tensordot(a, b, axes), [_v(*sa), _v(*sb)],
             lambda a, b: np.tensordot(a, b, axes), grad=True)


def test_tensordot_keeps_static_shapes_and_uses_one_dot():
    a = TensorType("float64", (2, 3, 4))("a")
    b = TensorType("float64", (4, 5))("b")
    out = tensordot(a, b, 1)
    assert out.type.shape == (2, 3, 5)
    assert any(isinstance(n.op, Dot) for n in sg.graph.toposort([out]))
    assert tensordot(T.matrix(), T.matrix(), [[1], [0]]).owner.op == Dot()


def test_tensordot_static_mismatch():
    a = TensorType("float64", (2, 3))("ta")
    b = TensorType("float64", (4, 2))("tb")
    with pytest.raises(ValueError, match=r"tensordot: .*ta.*\(2, 3\).*tb.*\(4, 2\).*axis 1"):
        tensordot(a, b, 1)


def test_tensordot_runtime_mismatch():
    a, b = T.tensor3("a"), T.matrix("b")
    f = sg.function([a, b], tensordot(a, b, [[2], [0]]))
    with pytest.raises(ValueError, match=r"tensordot: the summed axes do not match.*\(4,\)"):
        f(_v(2, 3, 4), _v(5, 2))


def test_tensordot_runtime_mismatch_hidden_by_merging_axes():
    # (2, 3) against (3, 2) has the same number of elements: only a per-axis check sees it
    a, b = T.tensor3("a"), T.tensor3("b")
    f = sg.function([a, b], tensordot(a, b, [[1, 2], [0, 1]]))
    with pytest.raises(ValueError, match=r"axes \[1, 2\] .* sizes \(2, 3\).* sizes \(3, 2\)"):
        f(_v(4, 2, 3), _v(3, 2, 5))
    g = sg.function([a, b], batched_tensordot(a, b, 2))
    with pytest.raises(ValueError, match=r"batched_tensordot: the summed axes do not match"):
        g(_v(4, 2, 3), _v(4, 3, 2))


def test_tensordot_axes_errors():
    a, b = T.matrix("ma"), T.vector("vb")
    with pytest.raises(ValueError, match=r"axes=2 .*ma .*vb"):
        tensordot(a, b, 2)
    with pytest.raises(ValueError, match=r"axis 3 is out of range for ma"):
        tensordot(a, b, [[3], [0]])
    with pytest.raises(ValueError, match="name 2 axes of ma .* but 1 of vb"):
        tensordot(a, b, [[0, 1], [0]])
    with pytest.raises(ValueError, match="repeated axis"):
        tensordot(a, T.matrix(), [[0, 0], [0, 1]])
    with pytest.raises(TypeError, match="axes must be an int or a pair"):
        tensordot(a, b, "bad")


BATCHED_CASES = [
    ((4, 2, 3), (4, 3, 5), [[2], [1]]),
    ((4, 2, 3), (4, 3, 5, 2), [[2], [1]]),
    ((4, 2, 3, 5), (4, 5, 3), [[2, 3], [2, 1]]),
    ((4, 3), (4, 3), [[1], [1]]),
    ((4, 3, 2), (4, 3, 2), 2),
    ((4, 2), (4, 3), 0),
]


def _np_batched_tensordot(axes):
    def ref(x, y):
        if isinstance(axes, int):
            spec = axes
        else:
            spec = [[a - 1 for a in axes[0]], [b - 1 for b in axes[1]]]
        return np.stack([np.tensordot(p, q, spec) for p, q in zip(x, y)])

    return ref


@pytest.mark.parametrize("sx,sy,axes", BATCHED_CASES)
def test_batched_tensordot_matches_numpy(sx, sy, axes):
    check_op(lambda x, y: batched_tensordot(x, y, axes), [_v(*sx), _v(*sy)],
             _np_batched_tensordot(axes), grad=True)


def test_batched_tensordot_errors():
    with pytest.raises(ValueError, match="axis 0 of bx .*batch axis"):
        batched_tensordot(T.tensor3("bx"), T.tensor3(), [[0], [1]])
    with pytest.raises(TypeError, match="bv .*1 dimensions"):
        batched_tensordot(T.vector("bv"), T.matrix(), 1)
