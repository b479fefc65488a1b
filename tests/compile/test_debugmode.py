"""DebugMode: the rewritten graph checked node by node against the unrewritten reference."""

from dataclasses import dataclass

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.debugmode import BadDestroyMap, BadOptimization, DebugMode
from symgraph.graph import Apply, Op
from symgraph.ops import math as m
from symgraph.ops import scalar as s
from symgraph.opt import pipeline
from symgraph.opt.engine import equilibrium
from symgraph.opt.pattern import P, Rules, var


def test_debugmode_runs_a_training_step_and_checks_every_rewrite():
    rng = np.random.default_rng(0)
    x, y = T.dmatrix("x"), T.ivector("y")
    W = sg.shared(rng.normal(size=(4, 3)), name="W")
    p = T.nnet.softmax(T.dot(x, W))
    loss = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    g = sg.grad(loss, W)
    expected_w = W.get_value() - 0.1 * sg.function([x, y], g, mode=sg.Mode(optimizer=None))(
        np.ones((2, 4)), np.array([0, 2], dtype="int32")
    )
    f = sg.function([x, y], loss, updates=[(W, W - 0.1 * g)], mode="DebugMode")
    assert isinstance(f.maker.mode, DebugMode)
    f(np.ones((2, 4)), np.array([0, 2], dtype="int32"))
    np.testing.assert_allclose(W.get_value(), expected_w, rtol=1e-12)


def test_stabilized_values_count_as_equal():
    x = T.dvector("x")
    f = sg.function([x], T.log(T.nnet.sigmoid(x)), mode=DebugMode())
    np.testing.assert_allclose(f(np.array([-1000.0, 0.0])), [-1000.0, -np.log(2)])


@pytest.fixture
def broken_pass(monkeypatch):
    """A pass whose rule changes a value: exp(x) -> exp2(x)."""
    x = var("x")
    rules = Rules("broken", [(P(s.exp, x), lambda x: m.exp2(x), "bad exp")])
    fired = []

    def broken(fg):
        fired.append(equilibrium(fg, rules, "broken"))

    monkeypatch.setattr(pipeline, "PIPELINE", (("broken", broken),) + pipeline.PIPELINE)
    return fired


def test_a_wrong_rewrite_is_reported_with_the_variable_and_the_users_line(broken_pass):
    x = T.dvector("x")
    e = T.exp(x)
    e.name = "growth"
    out = e * 2
    f = sg.function([x], out, mode=DebugMode().including("broken"))
    assert broken_pass and broken_pass[0]["bad exp"] == 1
    with pytest.raises(BadOptimization) as info:
        f(np.array([0.0, 1.0]))
    text = str(info.value)
    assert "growth" in text and e.trace in text and "'bad exp'" in text
    ok = sg.function([x], out, mode=DebugMode())  # without the broken pass all is well
    np.testing.assert_allclose(ok(np.array([0.0])), [2.0])


@dataclass(frozen=True)
class Sneaky(Op):
    """Adds one to its input in place without declaring it: a bug DebugMode must catch."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        inputs[0] += 1
        return [inputs[0].copy()]


def test_an_undeclared_in_place_write_is_reported():
    x = T.dvector("x")
    f = sg.function([x], Sneaky()(T.exp(x)), mode=DebugMode(optimizer=None))
    with pytest.raises(BadDestroyMap, match="Sneaky changed its input 0"):
        f(np.zeros(2))
