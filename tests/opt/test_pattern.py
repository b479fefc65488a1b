"""The pattern DSL: op specs, captures, commutative lists, many(), constants, rule tables."""

import numpy as np

import symgraph.tensor as T
from symgraph.ops import scalar as s
from symgraph.ops.elemwise import DimShuffle, Elemwise
from symgraph.ops.math import exp, mul
from symgraph.opt.pattern import P, Rest, Rules, const, many, match, scalar_value, var

x, y = var("x"), var("y")


def test_scalar_op_spec_matches_the_elemwise_of_it():
    a = T.dvector("a")
    assert match(P(s.exp, x), T.exp(a)) == {"x": a}
    assert match(P(s.log, x), T.exp(a)) is None
    assert match(P(exp, x), T.exp(a)) == {"x": a}  # an op instance: equality
    assert match(P(Elemwise, x), T.exp(a)) == {"x": a}  # an op class: isinstance
    assert match(P((s.log, s.exp), x), T.exp(a)) == {"x": a}  # a tuple: any of them


def test_a_name_used_twice_must_bind_the_same_variable():
    a, b = T.dvector("a"), T.dvector("b")
    pattern = P(s.sub, x, x)
    assert match(pattern, a - a) == {"x": a}
    assert match(pattern, a - b) is None


def test_a_list_matches_inputs_in_any_order():
    a = T.dvector("a")
    pattern = P(s.mul, [P(s.exp, x), y])
    assert match(pattern, T.exp(a) * 2)["x"] is a
    assert match(pattern, 2 * T.exp(a))["x"] is a
    assert match(P(s.mul, P(s.exp, x), y), 2 * T.exp(a)) is None  # a tuple keeps the order


def test_many_binds_the_remaining_inputs_combined_by_the_same_op():
    a, b, c = T.dvectors("a", "b", "c")
    captures = match(P(s.mul, [P(s.exp, x), many("rest")]), mul(b, T.exp(a), c))
    rest = captures["rest"]
    assert isinstance(rest, Rest) and rest.inputs == (b, c)
    combined = rest.variable()
    assert combined.owner.op == mul and combined.owner.inputs == [b, c]
    assert match(P(s.mul, [P(s.exp, x), many("rest")]), mul(T.exp(a))) is None  # needs >= 1


def test_constants_match_by_value_after_broadcasting():
    a = T.dmatrix("a")
    expr = a * 1  # the 0-d constant 1 is broadcast by a DimShuffle{x,x}
    assert isinstance(expr.owner.inputs[1].owner.op, DimShuffle)
    assert match(P(s.mul, [x, const(1)]), expr) == {"x": a}
    assert match(P(s.mul, [x, const(2)]), expr) is None
    filled = a * T.constant(np.ones((1, 3)))
    assert match(P(s.mul, [x, const(1)]), filled) == {"x": a}
    assert scalar_value(T.constant(np.full((2, 2), 3.0))) == 3.0
    assert scalar_value(T.constant(np.array([1.0, 2.0]))) is None


def test_named_sub_pattern_and_where():
    a = T.dmatrix("a")
    t = a.T
    captures = match(P(DimShuffle, x, name="ds", where=lambda op: op.new_order == (1, 0)), t)
    assert captures == {"x": a, "ds": t}
    assert match(P(DimShuffle, x, where=lambda op: op.new_order == (0, 1)), t) is None


def test_rule_names_come_from_the_identity_comment():
    rules = Rules(
        "demo",
        [
            (P(s.mul, [x, const(1)]), lambda x: x),  # x*1 -> x
            (P(s.neg, P(s.neg, x)), lambda x: x, "double negation"),
        ],
    )
    assert rules.names() == ["x*1 -> x", "double negation"]


def test_rules_naming_a_missing_module_stay_inactive():
    rules = Rules(
        "demo",
        [
            (P("symgraph.ops.not_written_yet:Fancy", x), lambda x: x),  # fancy(x) -> x
            (P(s.neg, P(s.neg, x)), lambda x: x),  # -(-x) -> x
        ],
    )
    assert rules.names() == ["-(-x) -> x"]
    assert "symgraph.ops.not_written_yet" in rules.inactive["fancy(x) -> x"]
