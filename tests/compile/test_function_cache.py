"""Tests for symgraph/compile/function_cache.py: hits across processes, misses on every
change that matters, shared variables rebound, corrupt entries rebuilt."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.ops import as_op
from symgraph.config import config


@pytest.fixture
def compiledir(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "compiledir", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _mlp(seed=0, lr=0.1, dtype="float32"):
    rng = np.random.default_rng(seed)
    w = sg.shared(rng.standard_normal((5, 3)).astype(dtype), name="w")
    b = sg.shared(np.zeros(3, dtype), name="b")
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    p = T.nnet.softmax(T.dot(x, w) + b)
    loss = T.mean(T.nnet.categorical_crossentropy(p, y))
    gw, gb = sg.grad(loss, [w, b])
    lr = np.asarray(lr, dtype)
    f = sg.function([x, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)])
    return f, w, b


def _data(dtype="float32"):
    rng = np.random.default_rng(7)
    return rng.standard_normal((4, 5)).astype(dtype), np.array([0, 2, 1, 2], "int32")


def test_the_same_graph_compiled_again_hits_and_computes_the_same(compiledir):
    first, w1, _ = _mlp()
    second, w2, _ = _mlp()
    assert not first.from_cache and second.from_cache
    x, y = _data()
    for _ in range(3):
        assert np.array_equal(first(x, y), second(x, y))
    assert np.array_equal(w1.get_value(), w2.get_value())
    assert second.maker.fgraph.rewrites == first.maker.fgraph.rewrites


SCRIPT = """
import json, sys
import numpy as np
import symgraph as sg
import symgraph.tensor as T

rng = np.random.default_rng(0)
w = sg.shared(rng.standard_normal((6, 4)).astype("float32"), name="w")
v = sg.shared(np.zeros((6, 4), "float32"), name="v")
x = T.fmatrix("x")
h = T.nnet.relu(T.dot(x, w))
loss = T.mean(T.sqr(h)) + 0.5 * T.sum(T.exp(-h))
g = sg.grad(loss, w)
new_v = np.float32(0.9) * v - np.float32(0.01) * g
f = sg.function([x], [loss, h.sum(axis=0)], updates=[(v, new_v), (w, w + new_v)])
xv = np.random.default_rng(1).standard_normal((3, 6)).astype("float32")
out = [[o.tolist() for o in f(xv)] for _ in range(3)]
print(json.dumps({"hit": f.from_cache, "out": out, "w": w.get_value().tolist()}))
"""


def _run(script: Path, compiledir: Path) -> dict:
    root = Path(sg.__file__).parent.parent
    env = dict(os.environ, PYTHONPATH=str(root), SYMGRAPH_FLAGS=f"compiledir={compiledir}")
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_new_process_hits_the_cache_and_gives_identical_results(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    first = _run(script, tmp_path / "cache")
    second = _run(script, tmp_path / "cache")
    assert not first["hit"] and second["hit"]
    assert first["out"] == second["out"] and first["w"] == second["w"]


@pytest.mark.parametrize(
    "change",
    [
        {"lr": 0.2},  # a constant's value
        {"dtype": "float64"},  # dtypes
    ],
)
def test_a_changed_constant_or_dtype_misses(compiledir, change):
    _mlp()
    assert _mlp()[0].from_cache
    assert not _mlp(**change)[0].from_cache


def test_a_changed_op_parameter_misses(compiledir):
    x = T.matrix("x")
    assert not sg.function([x], x.sum(axis=0)).from_cache
    assert sg.function([x], x.sum(axis=0)).from_cache
    f = sg.function([x], x.sum(axis=1))
    assert not f.from_cache
    assert f(np.ones((2, 3))).shape == (2,)


def test_a_changed_update_misses(compiledir):
    s = sg.shared(np.zeros(3), name="s")
    x = T.vector("x")
    sg.function([x], x.sum(), updates=[(s, s + x)])
    assert sg.function([x], x.sum(), updates=[(s, s + x)]).from_cache
    f = sg.function([x], x.sum(), updates=[(s, s - x)])
    assert not f.from_cache
    f(np.ones(3))
    assert np.array_equal(s.get_value(), [-1.0, -1.0, -1.0])  # s - x, not s + x
    assert not sg.function([x], x.sum()).from_cache  # no update at all


def test_structurally_equal_graphs_update_their_own_shared_variables(compiledir, monkeypatch):
    f1, w1, _ = _mlp(seed=0)
    f2, w2, _ = _mlp(seed=1)  # the same structure over other shared variables and values
    assert f2.from_cache
    before = w1.get_value()
    x, y = _data()
    f2(x, y)
    assert np.array_equal(w1.get_value(), before)  # f2 updated only its own
    f1(x, y)
    monkeypatch.setattr(config, "function_cache", False)
    for seed, w in enumerate([w1, w2]):
        plain, reference, _ = _mlp(seed=seed)
        assert not plain.from_cache
        plain(x, y)
        assert np.array_equal(reference.get_value(), w.get_value())


def test_a_corrupt_entry_is_rebuilt(compiledir):
    _mlp()
    entries = [
        p
        for p in compiledir.rglob("*.obj")
        if "function" in json.loads(Path(f"{p}.meta.json").read_text())["meta"]
    ]
    assert len(entries) == 1
    data = bytearray(entries[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    entries[0].write_bytes(bytes(data))
    f, _, _ = _mlp()
    assert not f.from_cache
    x, y = _data()
    assert np.isfinite(f(x, y))
    assert _mlp()[0].from_cache


def test_check_modes_and_python_callables_are_not_cached(compiledir):
    x = T.dvector("x")
    for _ in range(2):
        assert not sg.function([x], x * 2, mode="DebugMode").from_cache

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def double(v):
        return v * 2

    for _ in range(2):
        f = sg.function([x], double(x) + 1)
        assert not f.from_cache
    assert np.array_equal(f(np.ones(2)), [3.0, 3.0])


def test_a_hit_names_this_process_lines_in_its_graph(compiledir):
    source = textwrap.dedent("""
        x = T.matrix("x")
        y = T.exp(x) * 2 + 1
        f = sg.function([x], y)
    """)
    first, second = {"T": T, "sg": sg}, {"T": T, "sg": sg}
    exec(compile(source, "first.py", "exec"), first)
    exec(compile("\n" * 10 + source, "second.py", "exec"), second)
    assert second["f"].from_cache
    traces = {v.trace for n in second["f"].maker.fgraph.toposort() for v in n.outputs}
    assert traces and all(t.startswith("second.py:") for t in traces), traces



def _rnn(scale=2.0, go_backwards=False):
    """A scan training step: its key holds the loop's body and layout."""
    u = sg.shared(np.random.default_rng(0).standard_normal((3, 3)) * 0.5, name="u")
    xs, h0 = T.dmatrix("xs"), T.dvector("h0")
    hs, _ = sg.scan(lambda x, h: T.tanh(x + scale * T.dot(h, u)), sequences=xs,
                    outputs_info=h0, go_backwards=go_backwards)
    loss = T.sum(hs[-1] ** 2)
    f = sg.function([xs, h0], [hs, loss], updates=[(u, u - 0.1 * sg.grad(loss, u))])
    return f, u


XS, H0 = np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.1, -0.2, 0.3])


def _rnn_reference(u, scale=2.0, go_backwards=False):
    h, hs = H0, []
    for x in XS[::-1] if go_backwards else XS:
        h = np.tanh(x + scale * h @ u)
        hs.append(h)
    return np.array(hs), np.sum(h ** 2)


def test_a_scan_function_hits_the_cache_and_trains_the_same(compiledir):
    first, u1 = _rnn()
    second, u2 = _rnn()
    assert not first.from_cache and second.from_cache
    for _ in range(3):
        for a, b in zip(first(XS, H0), second(XS, H0)):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(u1.get_value(), u2.get_value())


@pytest.mark.parametrize("change", [{"scale": 3.0}, {"go_backwards": True}])
def test_a_changed_loop_body_or_layout_misses(compiledir, change):
    _rnn()
    assert _rnn()[0].from_cache
    f, u = _rnn(**change)
    assert not f.from_cache
    want_hs, want_loss = _rnn_reference(u.get_value(), **change)
    hs, loss = f(XS, H0)
    np.testing.assert_allclose(hs, want_hs, rtol=1e-12)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)


def test_a_scan_op_that_compiled_its_body_still_keys_by_what_it_pickles(compiledir):
    """The first function compiles the loop body into the user graph's Scan op; the key leaves
    that out, as the op's pickled state does, so the same graph compiled again hits."""
    xs, h0 = T.dmatrix("xs"), T.dvector("h0")
    hs, _ = sg.scan(lambda x, h: T.tanh(x + h), sequences=xs, outputs_info=h0)
    first = sg.function([xs, h0], hs)
    first(XS, H0)
    (op,) = [n.op for n in sg.graph.toposort([hs]) if type(n.op).__name__ == "Scan"]
    assert "_fn" in op.__dict__
    second = sg.function([xs, h0], hs)
    assert second.from_cache
    np.testing.assert_array_equal(first(XS, H0), second(XS, H0))
