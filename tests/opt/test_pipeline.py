"""PIPELINE order, modes selecting passes by name, and the report of the rules that fired."""

import os
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.config import config
from symgraph.opt import pipeline
from symgraph.opt.canonicalize import RULES as CANONICAL
from symgraph.opt.crossentropy import RULES as CROSSENTROPY
from symgraph.opt.expand import RULES as EXPAND
from symgraph.opt.specialize import RULES as SPECIALIZE
from symgraph.opt.stabilize import RULES as STABILIZE
from tests.opt.rewrite_util import PY


def test_the_pipeline_order():
    assert pipeline.pass_names() == [
        "merge",
        "constant_fold",
        "canonicalize",
        "scan",
        "stabilize",
        "specialize",
        "expand",
        "fusion",
        "inplace",
    ]


def test_every_rule_table_is_active_now_that_the_ops_exist():
    for rules in (CANONICAL, STABILIZE, CROSSENTROPY, SPECIALIZE, EXPAND):
        assert rules.names() and not rules.inactive, rules.inactive


def test_modes_select_passes_by_name():
    assert sg.Mode().pass_names() == pipeline.pass_names()
    assert sg.Mode(backend="cuda").pass_names() == [
        n for n in pipeline.pass_names() if n != "expand"]  # CUDA has kernels for those ops
    assert sg.Mode(optimizer="fast_compile").pass_names() == ["merge", "constant_fold"]
    assert sg.Mode(optimizer=None).pass_names() == []
    assert "fusion" not in sg.Mode(excluding=["fusion"]).pass_names()
    assert sg.Mode(optimizer=None).including("merge").pass_names() == ["merge"]
    mode = sg.Mode(optimizer="fast_compile", backend="python").including("stabilize")
    x = T.dvector("x")
    f = sg.function([x], T.log(1 + x), mode=mode)
    assert f.maker.fgraph.rewrites["stabilize"]["log(1+x) -> log1p(x)"] == 1


def test_an_unknown_pass_name_is_an_error_naming_it():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="unknown rewrite pass 'fusoin'.*fusion"):
        sg.function([x], x + 1, mode=sg.Mode().including("fusoin"))


def test_the_rules_that_fired_are_kept_on_the_graph_and_printed_on_request(capsys):
    x = T.dvector("x")
    f = sg.function([x], T.log(1 + T.exp(x * 1)), mode=PY)
    hits = f.maker.fgraph.rewrites
    assert hits["canonicalize"]["x*1 -> x"] == 1
    assert hits["stabilize"]["log(1+exp(x)) -> softplus(x)"] == 1
    old = config.print_rewrites
    config.print_rewrites = True
    try:
        sg.function([x], T.log(1 + T.exp(x)), mode=PY)
    finally:
        config.print_rewrites = old
    assert "rewrite stabilize: log(1+exp(x)) -> softplus(x)  x1" in capsys.readouterr().out


def test_the_print_rewrites_flag_from_the_environment():
    code = (
        "import numpy as np, symgraph as sg, symgraph.tensor as T\n"
        "x = T.dvector('x')\n"
        "sg.function([x], T.log(T.nnet.sigmoid(x)), mode=sg.Mode(backend='python'))\n"
    )
    env = dict(os.environ, SYMGRAPH_FLAGS="print_rewrites")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert "log(sigmoid(x)) -> -softplus(-x)" in out.stdout, out.stderr


def test_fast_run_is_the_default_mode():
    x = T.dvector("x")
    f = sg.function([x], T.exp(x) * 2 + 1)
    assert f.maker.mode.optimizer == "fast_run"
    np.testing.assert_allclose(f(np.zeros(2)), [3.0, 3.0])
