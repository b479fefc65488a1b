"""The loop of a scan with small per-step products runs with one BLAS thread (blas_threads.py)."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.scan import blas_threads, op
from symgraph.scan.blas_threads import blas_threads as current_threads
from symgraph.scan.blas_threads import one_blas_thread, small_step

needs_openblas = pytest.mark.skipif(
    current_threads() is None, reason="numpy's OpenBLAS thread functions not found"
)


@needs_openblas
def test_one_blas_thread_sets_one_thread_and_restores_the_count():
    before = current_threads()
    with one_blas_thread():
        assert current_threads() == 1
    assert current_threads() == before
    with one_blas_thread(enabled=False):
        assert current_threads() == before


@needs_openblas
def test_the_count_is_restored_when_the_body_raises():
    before = current_threads()
    with pytest.raises(RuntimeError), one_blas_thread():
        raise RuntimeError("in the loop")
    assert current_threads() == before


def test_small_step_counts_the_elements_of_one_step():
    assert small_step([np.zeros((256, 256)), np.zeros((32, 256))])
    assert not small_step([np.zeros((2048, 2048))])


def _rnn(n_hid: int):
    x = T.tensor3("x")
    u = T.matrix("u")
    h0 = T.zeros((x.shape[1], n_hid))
    hs, _ = sg.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, u)), sequences=x, outputs_info=h0)
    return sg.function([x, u], hs[-1])


@needs_openblas
@pytest.mark.parametrize("n_hid, threads_in_loop", [(16, 1), (1100, None)])
def test_a_scan_of_small_products_loops_with_one_blas_thread(monkeypatch, n_hid, threads_in_loop):
    seen = []
    run_scan = op.run_scan

    def spy(*args, **kwargs):
        seen.append(current_threads())
        return run_scan(*args, **kwargs)

    monkeypatch.setattr(op, "run_scan", spy)
    monkeypatch.setattr(blas_threads, "SMALL_STEP", 1 << 20)
    before = current_threads()
    f = _rnn(n_hid)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, n_hid))
    u = rng.normal(size=(n_hid, n_hid)) / n_hid
    h = np.zeros((2, n_hid))
    for x_t in x:
        h = np.tanh(x_t + h @ u)
    np.testing.assert_allclose(f(x, u), h, rtol=1e-10)
    assert seen == [threads_in_loop or before]
    assert current_threads() == before
