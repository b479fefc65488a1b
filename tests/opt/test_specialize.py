"""specialize: sqr / sqrt / reciprocal for small powers, gemm / gemv, dot for sum(x*y)."""

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from tests.opt.rewrite_util import compiled, ops, rewritten, scalar_ops

SPEC = ["merge", "constant_fold", "canonicalize", "specialize"]


def test_small_constant_powers():
    x = T.dvector("x")
    assert scalar_ops(rewritten(x**2, SPEC)) == ["sqr"]
    assert scalar_ops(rewritten(x**0.5, SPEC)) == ["sqrt"]
    assert scalar_ops(rewritten(x**-1, SPEC)) == ["true_div"]
    assert ops(rewritten(x**1, SPEC)) == []
    v = np.array([0.5, 4.0, 9.0])
    f = compiled([x], [x**2, x**0.5, x**-1, x**0])
    for got, ref in zip(f(v), [v**2, v**0.5, v**-1.0, v**0]):
        np.testing.assert_allclose(got, ref)


def test_integer_powers_keep_integer_semantics():
    i = T.bvector("i")
    assert scalar_ops(rewritten(i**2, SPEC)) == ["sqr"]
    assert "pow" in scalar_ops(rewritten(i**-1, SPEC))  # numpy refuses it at run time
    v = np.array([100, -3], dtype="int8")
    np.testing.assert_array_equal(compiled([i], i**2)(v), v**2)  # int8 wraps around the same


def test_dot_plus_scaled_matrix_is_gemm():
    z, a, b = T.dmatrices("z", "a", "b")
    lr = T.dscalar("lr")
    out = z - lr * T.dot(a, b)
    fg = rewritten(out, SPEC)
    assert ops(fg) == ["Elemwise{neg}", "Gemm{no_inplace}"]
    rng = np.random.default_rng(0)
    zv, av, bv = rng.normal(size=(3, 2)), rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(compiled([z, a, b, lr], out)(zv, av, bv, 0.1), zv - 0.1 * av @ bv)
    assert "Gemm{no_inplace}" in ops(rewritten(z + T.dot(a, b), SPEC))


def test_matrix_vector_product_plus_vector_is_gemv():
    a = T.dmatrix("a")
    x, z = T.dvectors("x", "z")
    out = z + 2.0 * T.dot(a, x)
    assert "Gemv{no_inplace}" in ops(rewritten(out, SPEC))
    assert "Gemv{no_inplace}" in ops(rewritten(z + T.dot(x, a), SPEC))
    rng = np.random.default_rng(1)
    av, xv, zv = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    np.testing.assert_allclose(compiled([a, x, z], out)(av, xv, zv), zv + 2 * av @ xv)


def test_no_gemm_when_the_product_has_other_readers():
    # A gemm would compute the product a second time for them (the backward pass of
    # 0.5 * (x + abs(x)) reads dot(g, W.T) twice).
    z, a, b = T.dmatrices("z", "a", "b")
    d = T.dot(a, b)
    fg = rewritten([z + d, d * 2], SPEC)
    assert [o for o in ops(fg) if "Gemm" in o or o == "Dot"] == ["Dot"]
    scaled = 0.5 * d
    fg = rewritten([z + scaled, T.exp(scaled)], SPEC)
    assert [o for o in ops(fg) if "Gemm" in o or o == "Dot"] == ["Dot"]


def test_a_scaled_gemm_input_becomes_beta():
    # SGD momentum: 0.9 * v - 0.01 * dot(a, b) is one BLAS pass over v.
    v, a, b = T.dmatrices("v", "a", "b")
    out = 0.9 * v - 0.01 * T.dot(a, b)
    fg = rewritten(out, SPEC + ["constant_fold"])
    assert ops(fg) == ["Gemm{no_inplace}"]
    assert float(fg.toposort()[0].inputs[4].data) == 0.9
    rng = np.random.default_rng(2)
    vv, av, bv = rng.normal(size=(3, 2)), rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(compiled([v, a, b], out)(vv, av, bv), 0.9 * vv - 0.01 * av @ bv)


def test_an_sgd_step_on_a_term_that_reads_the_parameter_is_one_gemv():
    # w - lr * (dot(A.T, g) + 2 * l2 * w), the tutorial's L2-decayed step: the gemv formed
    # under the sub absorbs it (alpha -lr, beta 1 - 2 * l2 * lr)
    a, g, w = T.dmatrix("A"), T.dvector("g"), T.dvector("w")
    out = w - 0.1 * (T.dot(a.T, g) + 0.02 * w)
    fg = rewritten(out, SPEC)
    assert [o for o in ops(fg) if o not in ("Transpose",)] == ["Gemv{no_inplace}"]
    rng = np.random.default_rng(3)
    av, gv, wv = rng.normal(size=(5, 4)), rng.normal(size=5), rng.normal(size=4)
    want = wv - 0.1 * (av.T @ gv + 0.02 * wv)
    np.testing.assert_allclose(compiled([a, g, w], out)(av, gv, wv), want, rtol=1e-12)
    k = T.dscalar("k")
    for ins, args, expr, ref in [
        ([k], [0.3], w + k * (T.dot(a.T, g) + 0.02 * w), wv + 0.3 * (av.T @ gv + 0.02 * wv)),
        ([], [], w - (T.dot(a.T, g) + 0.02 * w), wv - (av.T @ gv + 0.02 * wv)),
    ]:
        assert [o for o in ops(rewritten(expr, SPEC)) if "Gem" in o] == ["Gemv{no_inplace}"]
        got = compiled([a, g, w, *ins], expr)(av, gv, wv, *args)
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_the_fold_leaves_a_gemm_whose_result_is_read_elsewhere():
    # folding z - 0.1*step into the gemm would need step itself a second time
    z, a, b = T.dmatrices("z", "a", "b")
    step = T.dot(a, b) + 0.5 * z
    outs = [z - 0.1 * step, step]
    fg = rewritten(outs, SPEC)
    assert [o for o in ops(fg) if "Gemm" in o] == ["Gemm{no_inplace}"]
    gemm = next(n for n in fg.toposort() if "Gemm" in str(n.op))
    assert gemm.inputs[0].name == "z"  # the gemm still computes step, from z
    rng = np.random.default_rng(4)
    zv, av, bv = (rng.normal(size=(3, 3)) for _ in range(3))
    sv = av @ bv + 0.5 * zv
    got = compiled([z, a, b], outs)(zv, av, bv)
    np.testing.assert_allclose(got[0], zv - 0.1 * sv, rtol=1e-12)
    np.testing.assert_allclose(got[1], sv, rtol=1e-12)


def test_no_gemm_when_the_sum_broadcasts_or_dtypes_differ():
    a, b = T.dmatrices("a", "b")
    row = T.drow("row")
    assert "Gemm{no_inplace}" not in ops(rewritten(row + T.dot(a, b), SPEC))
    f32 = T.fmatrix("f32")
    assert "Gemm{no_inplace}" not in ops(rewritten(f32 + T.dot(a, b), SPEC))


def test_sum_of_a_vector_product_is_a_dot():
    x, y = T.dvectors("x", "y")
    out = (x * y).sum()
    assert ops(rewritten(out, SPEC)) == ["Dot"]
    np.testing.assert_allclose(compiled([x, y], out)([1.0, 2.0], [3.0, 4.0]), 11.0)
    m = T.dmatrix("m")
    assert "Dot" not in ops(rewritten((m * m).sum(), SPEC))


def test_specialize_runs_in_fast_run_only():
    x = T.dvector("x")
    f = sg.function([x], x**2, mode="FAST_COMPILE")
    assert "sqr" not in str(ops(f))
