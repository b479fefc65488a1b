"""fusion: elementwise chains -> one Composite node; map + reduce -> one FusedReduce node."""

import pickle

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.graph import toposort
from symgraph.ops.composite import CNode, Composite, FusedReduce
from symgraph.ops.elemwise import Elemwise
from tests.opt.rewrite_util import PY, PY_NONE, compiled, ops


def _fused(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Elemwise)]


def test_the_issue_expression_is_one_fused_node():
    x = T.dvector("x")
    a, b = T.dscalars("a", "b")
    out = T.tanh(a * x + b) * T.nnet.sigmoid(x) + T.exp(-x * x)
    f = compiled([x, a, b], out)
    (node,) = _fused(f)
    assert isinstance(node.op.scalar_op, Composite)
    assert str(node.op.scalar_op) == "Composite{tanh(i2*i0+i1)*sigmoid(i0)+exp(-i0*i0)}"
    assert [str(o) for o in ops(f)] == ["DimShuffle{x}", "DimShuffle{x}", str(node.op)]
    v = np.linspace(-3, 3, 7)
    ref = np.tanh(0.5 * v + 0.1) / (1 + np.exp(-v)) + np.exp(-v * v)
    np.testing.assert_allclose(f(v, 0.5, 0.1), ref)
    np.testing.assert_array_equal(f(v, 0.5, 0.1), compiled([x, a, b], out, PY_NONE)(v, 0.5, 0.1))


def test_a_value_used_twice_is_computed_once_and_not_fused_away():
    x = T.dvector("x")
    e = T.exp(x) + 1
    f = compiled([x], [T.sin(e) * 2, T.sqrt(e)])
    shared = [n for n in f.maker.fgraph.toposort() if len(f.maker.fgraph.clients[n.outputs[0]]) > 1]
    assert len(shared) == 1 and len(_fused(f)) == 3


def test_a_cheap_op_read_by_several_elementwise_nodes_is_computed_in_each():
    # logistic regression's x.w + b feeds the sigmoid, the cross-entropy and the gradient:
    # each fused node adds it again instead of a step writing it out and three reading it
    a, b = T.dvectors("a", "b")
    s = (a + b) * 2
    f = compiled([a, b], [T.exp(s), T.sin(s), T.tanh(s) + 1])
    nodes = _fused(f)
    assert len(nodes) == 3 and all(isinstance(n.op.scalar_op, Composite) for n in nodes)
    assert all(n.inputs == f.maker.fgraph.inputs for n in nodes)
    av, bv = np.array([0.1, -0.4]), np.array([0.3, 0.2])
    sv = (av + bv) * 2
    for got, want in zip(f(av, bv), [np.exp(sv), np.sin(sv), np.tanh(sv) + 1]):
        np.testing.assert_allclose(got, want, rtol=1e-15)


def test_a_cheap_op_read_by_something_else_than_elementwise_nodes_is_kept():
    a, b = T.dvectors("a", "b")
    s = a + b
    f = compiled([a, b], [T.exp(s), T.sin(s), s])  # s is an output
    assert "Elemwise{add}" in [str(n.op) for n in f.maker.fgraph.toposort()]
    assert len(_fused(f)) == 3  # the add, exp(add), sin(add): the sum is read, not redone


def test_a_value_read_twice_inside_the_chain_is_fused_with_it():
    # the backward pass of relu = 0.5 * (h + abs(h)): g' = 0.5*g + 0.5*g*sgn(h)
    g, h = T.dmatrices("g", "h")
    half = 0.5 * T.exp(g)
    out = half + half * T.sgn(h)
    f = compiled([g, h], out)
    (node,) = _fused(f)
    gv, hv = np.array([[0.1, -2.0]]), np.array([[1.0, -1.0]])
    np.testing.assert_allclose(f(gv, hv), 0.5 * np.exp(gv) * (1 + np.sign(hv)))


def test_an_elementwise_map_feeding_a_reduction_is_one_node():
    x = T.dmatrix("x")
    out = T.sum(T.exp(x) * 2, axis=1)
    f = compiled([x], out)
    (node,) = f.maker.fgraph.toposort()
    assert isinstance(node.op, FusedReduce) and str(node.op) == "Sum{axis=[1]}{exp(i0)*2}"
    v = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(f(v), compiled([x], out, PY_NONE)(v))


def test_composite_is_equal_by_structure_picklable_and_readable():
    nodes = (CNode("mul", (0, 1), "float64"), CNode("tanh", (2,), "float64"))
    c1, c2 = Composite(2, nodes, 3), Composite(2, nodes, 3)
    assert c1 == c2 and hash(c1) == hash(c2) and Elemwise(c1) == Elemwise(c2)
    assert c1 != Composite(2, (CNode("add", (0, 1), "float64"), nodes[1]), 3)
    assert pickle.loads(pickle.dumps(c1)) == c1
    assert str(c1) == "Composite{tanh(i0*i1)}"
    assert c1.output_dtype("float32", "float32") == "float64"
    with pytest.raises(ValueError, match="unknown scalar op"):
        Composite(1, (CNode("nope", (0,), "float64"),), 1)


def test_fused_nodes_merge_when_identical():
    x = T.dvector("x")
    out = T.tanh(T.exp(x) * 2) + T.tanh(T.exp(x) * 2) * 0 + T.exp(T.tanh(x) + 1)
    f = compiled([x], out)
    assert len(f.maker.fgraph.apply_nodes) <= 2


def test_runtime_errors_in_a_fused_node_name_the_users_expression():
    x, y = T.dvectors("x", "y")
    out = T.exp(x) * T.tanh(y) + 1  # the expression whose line the error must name
    line = out.trace
    f = compiled([x, y], out)
    assert len(_fused(f)) == 1
    with pytest.raises(ValueError) as info:
        f(np.zeros(2), np.zeros(3))
    assert line in str(info.value) and "test_fusion.py" in line


def test_fusion_can_be_excluded():
    x = T.dvector("x")
    f = sg.function([x], T.exp(x) * 2 + 1, mode=PY.excluding("fusion"))
    assert len(_fused(f)) == 3


def _mlp_train_step(mode):
    """The Theano tutorial MLP: tanh hidden layer, softmax output, NLL + L1 + L2 penalties."""
    rng = np.random.default_rng(0)
    x, y = T.dmatrix("x"), T.ivector("y")
    W1 = sg.shared(rng.normal(size=(20, 30)) * 0.1, name="W1")
    b1 = sg.shared(np.zeros(30), name="b1")
    W2 = sg.shared(rng.normal(size=(30, 5)) * 0.1, name="W2")
    b2 = sg.shared(np.zeros(5), name="b2")
    h = T.tanh(T.dot(x, W1) + b1)
    p = T.nnet.softmax(T.dot(h, W2) + b2)
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    cost = nll + 0.001 * (abs(W1).sum() + abs(W2).sum()) + 0.0001 * ((W1**2).sum() + (W2**2).sum())
    params = [W1, b1, W2, b2]
    updates = [(w, w - 0.1 * g) for w, g in zip(params, sg.grad(cost, params))]
    f = sg.function([x, y], cost, updates=updates, mode=mode)
    before = len(toposort([cost] + [u for _, u in updates]))
    return f, before, params


def test_an_mlp_train_step_has_three_times_fewer_nodes():
    # counted without the expand pass, which writes the fused crossentropy out as several
    # (fusible) nodes on purpose
    f, before, _ = _mlp_train_step(PY.excluding("expand"))
    after = len(f.maker.fgraph.apply_nodes)
    assert before >= 3 * after, (before, after)
    f, _, _ = _mlp_train_step(PY)
    ref, _, _ = _mlp_train_step(PY_NONE)
    rng = np.random.default_rng(1)
    xv, yv = rng.normal(size=(8, 20)), rng.integers(0, 5, 8).astype("int32")
    for _ in range(3):
        np.testing.assert_allclose(f(xv, yv), ref(xv, yv), rtol=1e-10)


def test_an_error_inside_a_fused_node_names_the_inner_expression_and_its_line():
    i, j = T.lvectors("i", "j")
    power = i**j  # numpy refuses negative integer powers of integers, at run time
    out = power * 2 + 1
    f = compiled([i, j], out)
    (node,) = f.maker.fgraph.toposort()
    assert isinstance(node.op.scalar_op, Composite)
    with pytest.raises(ValueError) as info:
        f(np.array([2, 3]), np.array([1, -1]))
    text = str(info.value)
    assert f"pow(i0, i1) (created at {power.trace})" in text and out.trace in text
