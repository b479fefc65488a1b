"""Theano's scan tutorial programs (only the imports changed), each against numpy."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.scan import until

theano = sg  # the tutorials' spelling: theano.scan, theano.function, theano.shared


def test_power_only_last_value():
    k = T.iscalar("k")
    A = T.vector("A")

    def inner_fct(prior_result, B):
        return prior_result * B

    result, updates = theano.scan(
        fn=inner_fct, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k
    )
    final_result = result[-1]
    power = theano.function(inputs=[A, k], outputs=final_result, updates=updates)
    np.testing.assert_allclose(power(range(10), 2), np.arange(10.0) ** 2)
    np.testing.assert_allclose(power(range(10), 4), np.arange(10.0) ** 4)


def test_polynomial_with_arange():
    coefficients = T.vector("coefficients")
    x = T.scalar("x")
    max_coefficients_supported = 10000
    full_range = T.arange(max_coefficients_supported)
    components, updates = theano.scan(
        fn=lambda coeff, power, free_var: coeff * (free_var**power),
        outputs_info=None,
        sequences=[coefficients, full_range],
        non_sequences=x,
    )
    polynomial = components.sum()
    calculate_polynomial = theano.function(inputs=[coefficients, x], outputs=polynomial)
    test_coeff = np.asarray([1, 0, 2], dtype=np.float64)
    assert calculate_polynomial(test_coeff, 3) == pytest.approx(19.0)


def test_sum_of_a_sequence():
    up_to = T.iscalar("up_to")

    def accumulate_by_adding(arange_val, sum_to_date):
        return sum_to_date + arange_val

    seq = T.arange(up_to)
    outputs_info = T.as_tensor_variable(np.asarray(0, seq.dtype))
    scan_result, scan_updates = theano.scan(
        fn=accumulate_by_adding, outputs_info=outputs_info, sequences=seq
    )
    triangular_sequence = theano.function(inputs=[up_to], outputs=scan_result)
    np.testing.assert_array_equal(triangular_sequence(15), np.cumsum(np.arange(15)))
    assert triangular_sequence(0).shape == (0,)


def test_accumulator_with_shared_updates():
    k = theano.shared(0)
    n_sym = T.iscalar("n_sym")
    results, updates = theano.scan(lambda: {k: (k + 1)}, n_steps=n_sym)
    accumulator = theano.function([n_sym], [], updates=updates, allow_input_downcast=True)
    assert k.get_value() == 0
    accumulator(5)
    assert k.get_value() == 5
    accumulator(3)
    assert k.get_value() == 8
    assert results is None


def test_fibonacci_taps():
    n = T.iscalar("n")
    init = T.constant(np.array([0, 1], dtype="int64"))
    fib, _ = theano.scan(
        lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=n
    )
    f = theano.function([n], fib)
    expected = [1, 2, 3, 5, 8, 13, 21, 34]
    np.testing.assert_array_equal(f(8), expected)


def test_tanh_of_dot_elementwise(rng):
    X = T.matrix("X")
    W = T.matrix("W")
    b_sym = T.vector("b_sym")
    results, updates = theano.scan(lambda v: T.tanh(T.dot(v, W) + b_sym), sequences=X)
    compute_elementwise = theano.function(inputs=[X, W, b_sym], outputs=results)
    x = np.eye(2)
    w = np.ones((2, 2))
    b = np.ones(2)
    b[1] = 2
    np.testing.assert_allclose(compute_elementwise(x, w, b), np.tanh(x.dot(w) + b))


def test_recurrence_with_reversed_sequence():
    X = T.vector("X")
    W = T.matrix("W")
    U = T.matrix("U")
    Y = T.matrix("Y")
    V = T.matrix("V")
    P = T.matrix("P")
    results, updates = theano.scan(
        lambda y, p, x_tm1: T.tanh(T.dot(x_tm1, W) + T.dot(y, U) + T.dot(p, V)),
        sequences=[Y, P[::-1]],
        outputs_info=[X],
    )
    compute_seq = theano.function(inputs=[X, W, Y, U, P, V], outputs=results)
    x = np.zeros(2)
    x[1] = 1
    w = np.ones((2, 2))
    y = np.ones((5, 2))
    y[0, :] = -3
    u = np.ones((2, 2))
    p = np.ones((5, 2))
    p[0, :] = 3
    v = np.ones((2, 2))
    x_res = np.zeros((5, 2))
    x_res[0] = np.tanh(x.dot(w) + y[0].dot(u) + p[4].dot(v))
    for i in range(1, 5):
        x_res[i] = np.tanh(x_res[i - 1].dot(w) + y[i].dot(u) + p[4 - i].dot(v))
    np.testing.assert_allclose(compute_seq(x, w, y, u, p, v), x_res)


def test_norms_of_rows_and_columns():
    X = T.matrix("X")
    rows, _ = theano.scan(lambda x_i: T.sqrt((x_i**2).sum()), sequences=[X])
    cols, _ = theano.scan(lambda x_i: T.sqrt((x_i**2).sum()), sequences=[X.T])
    f = theano.function([X], [rows, cols])
    x = np.diag(np.arange(1, 6, dtype=np.float64), 1)
    r, c = f(x)
    np.testing.assert_allclose(r, np.sqrt((x**2).sum(1)))
    np.testing.assert_allclose(c, np.sqrt((x**2).sum(0)))


def test_trace():
    floatX = sg.config.floatX
    X = T.matrix("X")
    results, updates = theano.scan(
        lambda i, j, t_f: T.cast(X[i, j] + t_f, floatX),
        sequences=[T.arange(X.shape[0]), T.arange(X.shape[1])],
        outputs_info=np.asarray(0.0, dtype=floatX),
    )
    result = results[-1]
    compute_trace = theano.function(inputs=[X], outputs=result)
    x = np.eye(5, dtype=floatX)
    x[0] = np.arange(5, dtype=floatX)
    assert compute_trace(x) == pytest.approx(np.trace(x))


def test_two_past_taps_and_n_steps():
    X = T.matrix("X")
    W = T.matrix("W")
    b_sym = T.vector("b_sym")
    U = T.matrix("U")
    V = T.matrix("V")
    n_sym = T.iscalar("n_sym")
    results, updates = theano.scan(
        lambda x_tm2, x_tm1: T.dot(x_tm2, U) + T.dot(x_tm1, V) + T.tanh(T.dot(x_tm1, W) + b_sym),
        n_steps=n_sym,
        outputs_info=[dict(initial=X, taps=[-2, -1])],
    )
    compute_seq2 = theano.function(inputs=[X, U, V, W, b_sym, n_sym], outputs=results)
    x = np.zeros((2, 2))
    x[1, 1] = 1
    w = 0.5 * np.ones((2, 2))
    u = 0.5 * (np.ones((2, 2)) - np.eye(2))
    v = 0.5 * np.ones((2, 2))
    n = 10
    b = np.ones(2)
    x_res = np.zeros((10, 2))
    x_res[0] = x[0].dot(u) + x[1].dot(v) + np.tanh(x[1].dot(w) + b)
    x_res[1] = x[1].dot(u) + x_res[0].dot(v) + np.tanh(x_res[0].dot(w) + b)
    for i in range(2, 10):
        x_res[i] = x_res[i - 2].dot(u) + x_res[i - 1].dot(v) + np.tanh(x_res[i - 1].dot(w) + b)
    np.testing.assert_allclose(compute_seq2(x, u, v, w, b, n), x_res)


def test_jacobian_by_hand_and_T_jacobian():
    v = T.vector()
    A = T.matrix()
    y = T.tanh(T.dot(v, A))
    results, updates = theano.scan(lambda i: T.grad(y[i], v), sequences=[T.arange(y.shape[0])])
    compute_jac_t = theano.function([A, v], results, allow_input_downcast=True)
    x = np.eye(5)[0]
    w = np.eye(5, 3)
    w[2] = np.ones(3)
    expected = ((1 - np.tanh(x.dot(w)) ** 2) * w).T
    np.testing.assert_allclose(compute_jac_t(w, x), expected)
    jac = theano.function([A, v], T.jacobian(y, v))
    np.testing.assert_allclose(jac(w, x), expected)


def test_hessian():
    x = T.dvector("x")
    cost = (x**3).sum() + x[0] * x[1]
    h = theano.function([x], T.hessian(cost, x))
    xv = np.array([1.0, 2.0, 3.0])
    expected = np.diag(6 * xv)
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(h(xv), expected)


def test_rnn_with_several_taps(rng):
    def oneStep(u_tm4, u_t, x_tm3, x_tm1, y_tm1, W, W_in_1, W_in_2, W_feedback, W_out):  # noqa: N802, N803
        x_t = T.tanh(
            theano.tensor.dot(x_tm1, W)
            + theano.tensor.dot(u_t, W_in_1)
            + theano.tensor.dot(u_tm4, W_in_2)
            + theano.tensor.dot(y_tm1, W_feedback)
        )
        y_t = theano.tensor.dot(x_tm3, W_out)
        return [x_t, y_t]

    W, W_in_1, W_in_2, W_feedback, W_out = (T.dmatrix(n) for n in "abcde")  # noqa: N806
    u, x0, y0 = T.dmatrix("u"), T.dmatrix("x0"), T.dvector("y0")
    ([x_vals, y_vals], updates) = theano.scan(
        fn=oneStep,
        sequences=dict(input=u, taps=[-4, -0]),
        outputs_info=[dict(initial=x0, taps=[-3, -1]), y0],
        non_sequences=[W, W_in_1, W_in_2, W_feedback, W_out],
        strict=True,
    )
    f = theano.function([u, x0, y0, W, W_in_1, W_in_2, W_feedback, W_out], [x_vals, y_vals])
    nh, nin, nout, steps = 4, 3, 2, 6
    vals = dict(
        u=rng.normal(size=(steps + 4, nin)),
        x0=rng.normal(size=(3, nh)),
        y0=rng.normal(size=nout),
        W=rng.normal(size=(nh, nh)) * 0.3,
        W_in_1=rng.normal(size=(nin, nh)),
        W_in_2=rng.normal(size=(nin, nh)),
        W_feedback=rng.normal(size=(nout, nh)),
        W_out=rng.normal(size=(nh, nout)),
    )
    xs, ys = [*vals["x0"]], [vals["y0"]]
    for t in range(steps):
        u_tm4, u_t = vals["u"][t], vals["u"][t + 4]
        xs.append(
            np.tanh(
                xs[-1] @ vals["W"]
                + u_t @ vals["W_in_1"]
                + u_tm4 @ vals["W_in_2"]
                + ys[-1] @ vals["W_feedback"]
            )
        )
        ys.append(xs[-4] @ vals["W_out"])
    got_x, got_y = f(*vals.values())
    np.testing.assert_allclose(got_x, xs[3:])
    np.testing.assert_allclose(got_y, ys[1:])


def test_until_power_of_two():
    def power_of_2(previous_power, max_value):
        return previous_power * 2, until(previous_power * 2 > max_value)

    max_value = T.scalar()
    values, _ = theano.scan(
        power_of_2, outputs_info=T.constant(1.0), non_sequences=max_value, n_steps=1024
    )
    f = theano.function([max_value], values)
    np.testing.assert_allclose(f(45), [2, 4, 8, 16, 32, 64])
    np.testing.assert_allclose(f(0.5), [2])
    assert sg.scan.until is until


def test_set_value_at_position():
    location = T.imatrix("location")
    values = T.vector("values")
    output_model = T.matrix("output_model")

    def set_value_at_position(a_location, a_value, output_model):
        zeros = T.zeros_like(output_model)
        zeros_subtensor = zeros[a_location[0], a_location[1]]
        return T.set_subtensor(zeros_subtensor, a_value)

    result, updates = theano.scan(
        fn=set_value_at_position,
        outputs_info=None,
        sequences=[location, values],
        non_sequences=output_model,
    )
    assign_values_at_positions = theano.function(
        inputs=[location, values, output_model], outputs=result
    )
    test_locations = np.asarray([[1, 1], [2, 3]], dtype=np.int32)
    test_values = np.asarray([42, 50], dtype=np.float64)
    test_output_model = np.zeros((5, 5), dtype=np.float64)
    got = assign_values_at_positions(test_locations, test_values, test_output_model)
    expected = np.zeros((2, 5, 5))
    expected[0, 1, 1], expected[1, 2, 3] = 42, 50
    np.testing.assert_array_equal(got, expected)


def test_go_backwards_with_taps():
    x = T.dvector("x")
    out, _ = sg.scan(
        lambda a, b, c: a + 10 * b + 100 * c,
        sequences=dict(input=x, taps=[-1, 0, 2]),
        go_backwards=True,
    )
    f = sg.function([x], out)
    xv = np.arange(8.0)
    # Theano: the taps keep their meaning, the steps run from the end (current = 5 .. 1)
    expected = [xv[c - 1] + 10 * xv[c] + 100 * xv[c + 2] for c in range(5, 0, -1)]
    np.testing.assert_allclose(f(xv), expected)
    out2, _ = sg.scan(lambda a: a * 2, sequences=x, go_backwards=True, n_steps=3)
    np.testing.assert_allclose(sg.function([x], out2)(xv), [14, 12, 10])


def test_shared_updated_inside_the_loop_is_carried():
    acc = sg.shared(np.float64(1.0), name="acc")
    x = T.dvector("x")
    out, updates = sg.scan(lambda v: (acc * v, {acc: acc + v}), sequences=x)
    f = sg.function([x], out, updates=updates)
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), [1.0, 4.0, 12.0])
    assert acc.get_value() == pytest.approx(7.0)


def test_several_outputs_and_infer_shape():
    x = T.dmatrix("x")
    h0 = T.dvector("h0")
    (h, s), _ = sg.scan(
        lambda xt, hp: [hp + xt, (xt * 2).sum()], sequences=x, outputs_info=[h0, None]
    )
    f = sg.function([x, h0], [h, s, h.shape, s.shape])
    assert h.type.shape == (None, None) and s.type.shape == (None,)
    xv = np.arange(12.0).reshape(4, 3)
    hv, sv, hs, ss = f(xv, np.ones(3))
    np.testing.assert_allclose(hv, 1 + np.cumsum(xv, 0))
    np.testing.assert_allclose(sv, 2 * xv.sum(1))
    node = h.owner
    h_shape, s_shape = node.op.infer_shape(node, [(), (4, 3), (3,)])
    n_steps = node.inputs[0]
    assert h_shape == (n_steps, 3) and s_shape == (n_steps,)
    assert tuple(hs) == (4, 3) and tuple(ss) == (4,)


def test_the_compiled_step_has_no_shape_check_of_its_state(inner_backend):
    from symgraph.ops.shape import SpecifyShape
    from symgraph.scan.op import Scan

    x, u = T.dtensor3("x"), T.dmatrix("u")
    h0 = T.zeros((x.shape[1], 2))  # static width 2, which dot(h, u) does not know
    hs, _ = sg.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, u)), sequences=x, outputs_info=h0)
    assert any(isinstance(v.owner.op, SpecifyShape) for v in _scan_node(hs).op.inner_outputs)
    f = sg.function([x, u], hs)
    (node,) = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]
    inner = node.op.fn().maker.fgraph
    assert not any(isinstance(n.op, SpecifyShape) for n in inner.toposort())
    xv = np.arange(12.0).reshape(3, 2, 2) / 10
    uv = np.array([[0.5, -0.2], [0.1, 0.3]])
    h, want = np.zeros((2, 2)), []
    for x_t in xv:
        h = np.tanh(x_t + h @ uv)
        want.append(h)
    np.testing.assert_allclose(f(xv, uv), want)


def _scan_node(v):
    while not hasattr(v.owner.op, "inner_outputs"):
        v = v.owner.inputs[0]
    return v.owner
