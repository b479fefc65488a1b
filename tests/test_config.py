"""config: Theano's flags, from SYMGRAPH_FLAGS or set in code, and what they change."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.config import config


@pytest.fixture
def flags():
    """Set config attributes for one test, restored afterwards."""
    saved = dict(config.__dict__)
    yield config
    for name, value in saved.items():
        setattr(config, name, value)


def test_flags_are_read_from_the_environment():
    code = ("import symgraph as sg; c = sg.config; "
            "print(c.floatX, c.optimizer, c.linker, c.profile, c.warn_float64)")
    env = {"SYMGRAPH_FLAGS": "floatX=float32,optimizer=None,linker=py,profile,"
                             "warn_float64=warn", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["float32", "None", "py", "True", "warn"]


def test_a_ported_programs_theano_flags_are_read_too():
    code = ("import warnings; warnings.simplefilter('always'); import symgraph as sg; "
            "c = sg.config; print(c.floatX, c.device, c.optimizer, c.profile)")
    env = {"THEANO_FLAGS": "floatX=float32,device=gpu0,lib.cnmem=0.8,optimizer=None,profile",
           "SYMGRAPH_FLAGS": "profile=false", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["float32", "cuda", "None", "False"]  # SYMGRAPH_FLAGS wins
    assert "no flag 'lib.cnmem'; ignored" in done.stderr
    env = {"THEANO_FLAGS": "floatX=float31", "PATH": ""}
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "config.floatX must be one of" in bad.stderr


def test_unknown_flags_and_values_are_refused_by_name():
    with pytest.raises(AttributeError, match="no flag 'no_such_flag'"):
        config.no_such_flag = 1
    with pytest.raises(ValueError, match="warn_float64"):
        config.warn_float64 = "sometimes"


def test_optimizer_and_linker_flags_shape_the_default_mode(flags):
    x = T.dvector("x")
    flags.optimizer, flags.linker = "None", "py"
    f = sg.function([x], x * 1 + 0)
    assert f.maker.mode.backend == "python" and f.maker.mode.pass_names() == []
    assert [str(n.op) for n in f.maker.fgraph.toposort()].count("Elemwise{mul}") == 1
    flags.optimizer, flags.linker = None, None
    g = sg.function([x], x * 1 + 0)
    assert g.maker.mode.backend != "python" and len(g.maker.fgraph.toposort()) == 0
    np.testing.assert_array_equal(f(np.arange(3.0)), g(np.arange(3.0)))


def test_warn_float64_names_the_upcast_variable(flags):
    x = T.fvector("x")
    upcast = x * np.array([2.5])  # a float64 array upcasts (a Python float would not)
    upcast.name = "scaled"
    flags.warn_float64 = "raise"
    with pytest.raises(TypeError, match="'scaled'"):
        sg.function([x], upcast)
    flags.warn_float64 = "warn"
    with pytest.warns(UserWarning, match="float64"):
        sg.function([x], upcast)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sg.function([x], x * 2)  # float32 throughout: silent


def test_profile_flag_profiles_every_function(flags):
    flags.profile = True
    x = T.dvector("x")
    f = sg.function([x], T.exp(x))
    f(np.ones(3))
    assert f.profile is not None and f.profile.calls == 1
