"""Peak memory of long scans, measured with tracemalloc (numpy reports its buffers to it)."""

import tracemalloc

import numpy as np

import symgraph as sg
import symgraph.tensor as T

STEPS, WIDTH = 1000, 2000
STATES_BYTES = STEPS * WIDTH * 8  # every per-step state, float64: 16 MB


def _model():
    x, h0, w = T.dvector("x"), T.dvector("h0"), T.dvector("w")
    h, _ = sg.scan(
        lambda xt, hp, w: T.tanh(hp * w + xt), sequences=x, outputs_info=h0, non_sequences=w
    )
    return [x, h0, w], (h[-1] ** 2).sum()


def _values():
    rng = np.random.default_rng(0)
    return [rng.normal(size=STEPS), rng.normal(size=WIDTH), rng.normal(size=WIDTH) * 0.5]


def _peak_bytes(f, values) -> int:
    f(*values)  # compiled and warm: only the call itself is measured
    tracemalloc.start()
    try:
        f(*values)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_loss_on_the_last_state_allocates_no_state_history():
    inputs, loss = _model()
    peak = _peak_bytes(sg.function(inputs, loss), _values())
    assert peak < 0.05 * STATES_BYTES, f"peak {peak / 1e6:.2f} MB"


def test_its_gradient_keeps_one_copy_of_the_states():
    inputs, loss = _model()
    f = sg.function(inputs, sg.grad(loss, inputs[1:]))
    peak = _peak_bytes(f, _values())
    # the forward states (needed by backpropagation) and a few rows of accumulators
    assert peak < 1.1 * STATES_BYTES, f"peak {peak / 1e6:.2f} MB"
    print(f"peak {peak / 1e6:.2f} MB for {STATES_BYTES / 1e6:.0f} MB of states")


def test_a_second_call_writes_the_state_history_of_the_first_again():
    x, h0, w = T.dvector("x"), T.dvector("h0"), T.dvector("w")
    h, _ = sg.scan(
        lambda xt, hp, w: T.tanh(hp * w + xt), sequences=x, outputs_info=h0, non_sequences=w
    )
    f = sg.function([x, h0, w], h.sum())  # every state, read inside the function only
    peak = _peak_bytes(f, _values())
    assert peak < 0.05 * STATES_BYTES, f"peak {peak / 1e6:.2f} MB"


def test_results_a_caller_holds_are_not_written_by_the_next_call():
    x, h0, w = T.dvector("x"), T.dvector("h0"), T.dvector("w")
    h, _ = sg.scan(
        lambda xt, hp, w: T.tanh(hp * w + xt), sequences=x, outputs_info=h0, non_sequences=w
    )
    f = sg.function([x, h0, w], [h, h[1:]])
    first = _values()
    whole, view = f(*first)
    want = whole.copy()
    f(*[v + 1 for v in first])
    np.testing.assert_array_equal(whole, want)
    np.testing.assert_array_equal(view, want[1:])
