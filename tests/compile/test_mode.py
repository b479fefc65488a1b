"""Mode presets and names: FAST_RUN, FAST_COMPILE, DebugMode, NanGuardMode at Theano's paths."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile import FAST_COMPILE, FAST_RUN, Mode, get_mode
from symgraph.compile.debugmode import DebugMode
from symgraph.compile.nanguardmode import NanGuardMode


def test_presets_and_names():
    assert get_mode("FAST_RUN") is FAST_RUN and FAST_RUN.optimizer == "fast_run"
    assert get_mode("FAST_COMPILE") is FAST_COMPILE
    assert FAST_COMPILE.pass_names() == ["merge", "constant_fold"]
    assert isinstance(get_mode("DebugMode"), DebugMode)
    assert isinstance(get_mode("DEBUG_MODE"), DebugMode)
    assert isinstance(get_mode("NanGuardMode"), NanGuardMode)
    with pytest.raises(ValueError, match="DebugMode"):
        get_mode("FAST_RUNN")


def test_mode_with_optimizer_and_backend():
    mode = Mode(optimizer="fast_compile", backend="python")
    assert mode.backend == "python" and mode.optimizer == "fast_compile"
    x = T.dvector("x")
    f = sg.function([x], T.exp(x) * 2, mode=mode)
    assert len(f.maker.fgraph.apply_nodes) == 2
    g = sg.function([x], T.exp(x) * 2, mode=Mode(backend="python"))
    assert len(g.maker.fgraph.apply_nodes) == 1
    np.testing.assert_allclose(f(np.zeros(1)), g(np.zeros(1)))


def test_check_modes_take_including_and_excluding():
    mode = DebugMode(excluding=["fusion"])
    assert "fusion" not in mode.pass_names() and "inplace" in mode.pass_names()
    assert NanGuardMode(optimizer="fast_compile").pass_names() == ["merge", "constant_fold"]


def test_a_cpu_function_with_a_product_loads_blas_in_the_background(monkeypatch):
    from symgraph.codegen import cblas

    started = []
    monkeypatch.setattr(cblas, "load_in_background", lambda: started.append(True))
    x = T.dmatrix("x")
    sg.function([x], T.exp(x) + 1)  # no product: nothing to load
    assert started == []
    sg.function([x], T.dot(x, x.T), mode=Mode(backend="python"))  # numpy's products
    assert started == []
    f = sg.function([x], T.tanh(T.dot(x, x.T)))
    assert started == [True]
    np.testing.assert_allclose(f(np.eye(2) * 2), np.tanh(4 * np.eye(2)))
    b = T.dtensor3("b")
    sg.function([b], T.batched_dot(b, b))  # its large products run on the Gemm entry too
    assert started == [True, True]
