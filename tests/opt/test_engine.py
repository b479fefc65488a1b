"""The rewrite engine: fixed point, hit counts, type checks, loops, traces, indexing."""

import pytest

import symgraph.tensor as T
from symgraph.fgraph import FunctionGraph
from symgraph.ops import math as m
from symgraph.ops import scalar as s
from symgraph.ops.elemwise import DimShuffle
from symgraph.opt.engine import RewriteError, RewriteLoopError, RewriteTypeError, equilibrium
from symgraph.opt.pattern import P, Rules, const, var
from tests.opt.rewrite_util import ops

x, y = var("x"), var("y")


def test_runs_to_a_fixed_point_and_counts_hits():
    a = T.dvector("a")
    fg = FunctionGraph([a], [T.neg(T.neg(T.neg(T.neg(a * 1))))])
    rules = Rules(
        "demo",
        [
            (P(s.neg, P(s.neg, x)), lambda x: x),  # -(-x) -> x
            (P(s.mul, [x, const(1)]), lambda x: x),  # x*1 -> x
        ],
    )
    hits = equilibrium(fg, rules)
    assert fg.outputs[0] is fg.inputs[0]
    assert hits == {"-(-x) -> x": 2, "x*1 -> x": 1}
    assert fg.rewrites["demo"] == hits


def test_a_pattern_matches_when_a_later_rewrite_makes_its_deepest_node():
    # The exp appears only after the log was visited: sqr(a) -> a * (c * 1) makes new nodes,
    # visited last; x*1 -> x then changes the input of a * ., which the exp2 pattern names
    # one level down, and exp2 -> exp makes the node the softplus pattern names two levels
    # down. The engine revisits those ancestors, not only the changed node's direct reader.
    a = T.dscalar("a")  # 0-d: no DimShuffle between the constants and their readers
    fg = FunctionGraph([a], [T.log(1 + T.exp2(T.sqr(a)))])
    c = 1.4426950408889634
    rules = Rules(
        "demo",
        [
            (P(s.log, P(s.add, [const(1), P(s.exp, x)])), lambda x: m.softplus(x)),  # softplus
            (P(s.exp2, P(s.mul, [x, const(c)])), lambda x: m.exp(x)),  # exp
            (P(s.sqr, x), lambda x: x * (T.constant(c) * T.constant(1.0))),  # scaled
            (P(s.mul, [x, const(1)]), lambda x: x),  # x*1 -> x
        ],
    )
    hits = equilibrium(fg, rules)
    assert hits == {"scaled": 1, "x*1 -> x": 1, "exp": 1, "softplus": 1}
    assert ops(fg) == ["Elemwise{softplus}"]


def test_new_variables_keep_the_users_trace_and_name():
    a = T.dvector("a")
    out = T.log(1 + T.exp(a))  # the line the user wrote
    out.name = "loss"
    fg = FunctionGraph([a], [out])
    rules = Rules(
        "demo",
        [
            (
                P(s.log, P(s.add, [const(1), P(s.exp, x)])),
                lambda x: m.neg(m.neg(m.softplus(x))),
            ),  # x
        ],
    )
    equilibrium(fg, rules)
    new = fg.outputs[0]
    assert ops(fg) == ["Elemwise{softplus}", "Elemwise{neg}", "Elemwise{neg}"]
    assert new.trace == out.trace and "test_engine.py" in new.trace
    assert new.owner.inputs[0].trace == out.trace  # intermediate new nodes too
    assert new.name == "loss"


def test_a_replacement_of_the_wrong_type_raises_naming_the_rule():
    a = T.dvector("a")
    fg = FunctionGraph([a], [T.exp(a)])
    bad = Rules(
        "user",
        [
            (P(s.exp, x), lambda x: T.cast(x, "float32"), "exp to float32"),
        ],
    )
    with pytest.raises(RewriteTypeError, match=r"rule 'exp to float32' .*float64.*float32"):
        equilibrium(fg, bad)
    not_a_var = Rules("user", [(P(s.exp, x), lambda x: 3.0, "returns a number")])
    with pytest.raises(RewriteTypeError, match="returns a number"):
        equilibrium(FunctionGraph([a], [T.exp(a)]), not_a_var)


def test_less_static_shape_information_is_refused_quietly():
    a = T.TensorType("float64", (3,))("a")
    b = T.dvector("b")
    fg = FunctionGraph([a, b], [T.exp(a)])
    rules = Rules("demo", [(P(s.exp, x), lambda x: b, "forget the size")])
    assert equilibrium(fg, rules) == {}


def test_a_rewrite_loop_stops_naming_the_rules():
    a = T.dvector("a")
    fg = FunctionGraph([a], [T.exp(a) * 2])
    rules = Rules(
        "loopy",
        [
            (P(s.mul, [x, const(2)]), lambda x: x + x),  # x*2 -> x+x
            (P(s.add, x, x), lambda x: x * 2),  # x+x -> x*2
        ],
    )
    with pytest.raises(RewriteLoopError, match="rewrite loop in loopy") as info:
        equilibrium(fg, rules)
    text = str(info.value)
    assert "'x*2 -> x+x'" in text and "'x+x -> x*2'" in text
    assert "test_engine.py" in text  # the user's line of the expression


def test_a_growing_rewrite_is_stopped_by_the_step_budget():
    a = T.dvector("a")
    fg = FunctionGraph([a], [T.exp(a)])
    rules = Rules("grow", [(P(s.exp, x), lambda x: T.exp(x + 0), "exp(x) -> exp(x+0)")])
    with pytest.raises(RewriteLoopError, match="did not reach a fixed point"):
        equilibrium(fg, rules, max_steps=50)


def test_a_replacement_that_uses_the_replaced_variable_is_refused():
    a = T.dvector("a")
    fg = FunctionGraph([a], [T.exp(a)])
    rules = Rules("cyclic", [(P(s.exp, x, name="e"), lambda e: e + 0, "e -> e+0")])
    with pytest.raises(RewriteError, match="depends on the variable it replaces"):
        equilibrium(fg, rules)


def test_rules_are_tried_only_on_nodes_of_their_op_class():
    a = T.dmatrix("a")
    calls = []

    def spy(x):
        calls.append(x)
        return None

    fg = FunctionGraph([a], [T.exp(a.T) + 1])
    equilibrium(fg, Rules("spy", [(P(DimShuffle, x), spy, "spy")]))
    owners = {str(v.owner.op) if v.owner else "input" for v in calls}
    assert owners == {"input"} and len(calls) == 2  # a.T and the broadcast constant only


def test_a_rule_may_replace_several_variables():
    a = T.dvector("a")
    e = T.exp(a)
    fg = FunctionGraph([a], [e * 2, T.log(e)])
    rules = Rules(
        "both",
        [
            (
                P(s.log, P(s.exp, x, name="e"), name="out"),
                lambda x, e, out: {out: x, e: m.exp(x + 0)},
            ),  # log(exp(x)) -> x, and exp(x) -> exp(x+0)
        ],
    )
    equilibrium(fg, rules)
    assert fg.outputs[1] is fg.inputs[0]
    assert ops(fg)[-2:] == ["Elemwise{add}", "Elemwise{exp}"] or "Elemwise{add}" in ops(fg)


def test_identical_nodes_created_by_rules_are_merged():
    a = T.dvector("a")
    fg = FunctionGraph([a], [T.sqrt(a) + T.exp(T.log(T.sqrt(a)))])
    rules = Rules("demo", [(P(s.exp, P(s.log, x)), lambda x: m.sqrt(x.owner.inputs[0]), "e")])
    equilibrium(fg, rules)
    assert ops(fg) == ["Elemwise{sqrt}", "Elemwise{add}"]
