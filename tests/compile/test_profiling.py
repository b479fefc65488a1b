"""function(profile=True): per-node times, calls, compile-time split and the summary."""

import io

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.profiling import ProfileStats


@pytest.mark.parametrize("backend", ["python", "llvm"])
def test_profile_counts_calls_and_nodes(backend):
    x = T.dmatrix("x")
    W = sg.shared(np.ones((5, 3)), name="W")
    y = T.tanh(T.dot(x, W)).sum() + T.gammaln(x).sum()
    f = sg.function([x], y, profile=True, mode=sg.Mode(backend=backend), name="f")
    for _ in range(7):
        f(np.ones((4, 5)))
    prof = f.profile
    assert isinstance(prof, ProfileStats) and prof.calls == 7
    assert len(prof.nodes) >= 2 and all(c == 7 for c in prof.node_calls)
    assert prof.fallback_nodes >= 1  # gammaln runs its numpy reference everywhere
    buf = io.StringIO()
    text = prof.summary(file=buf)
    assert "7 calls" in text and "Apply nodes" in text and buf.getvalue() == text


def test_profile_instance_is_used_and_unprofiled_functions_have_none():
    x = T.dvector("x")
    stats = ProfileStats(name="mine")
    f = sg.function([x], x * 2, profile=stats)
    f(np.ones(3))
    assert f.profile is stats and stats.calls == 1
    assert sg.function([x], x * 2).profile is None


def test_the_summary_names_the_blas_of_the_products():
    from symgraph.codegen import cblas

    x = T.dmatrix("x")
    f = sg.function([x], T.dot(x, x.T), profile=True)
    f(np.eye(3))
    lib = cblas.chosen()
    text = f.profile.summary(file=io.StringIO())
    if lib is None:  # no CBLAS found: numpy's products, and no line
        assert "BLAS:" not in text
    else:
        assert f"BLAS: {lib.name} ({lib.path})" in text
