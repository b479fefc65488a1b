"""Theano names that ported programs reach for: top-level Op / Apply / clone / pprint,
grad_clip, pydotprint, and the tensor submodules basic, var, type, extra_ops, sort."""

import importlib

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T


def test_top_level_names():
    from symgraph.graph import Apply, Constant, Op, Variable

    assert (sg.Op, sg.Apply, sg.Variable, sg.Constant) == (Op, Apply, Variable, Constant)
    x = T.dvector("x")
    assert "x" in sg.pprint(x * 2) and sg.dprint(x * 2, file="str").startswith("Elemwise")


def test_clone_with_replace():
    x, y = T.dvector("x"), T.dvector("y")
    z = (x * 2).sum()
    z2 = sg.clone(z, replace={x: y})
    assert sg.function([y], z2)(np.ones(3)) == 6.0
    a, b = sg.clone([z, x * 3], replace=[(x, y)])
    np.testing.assert_array_equal(sg.function([y], b)(np.ones(2)), [3.0, 3.0])
    with pytest.raises(TypeError, match="clone: the replacement fv .*float32.*strict=False"):
        sg.clone(z, replace={x: T.fvector("fv")})
    loose = sg.clone(z, replace={x: T.fvector("fv")}, strict=False)
    assert loose.dtype == "float32"


def test_grad_clip_and_scale():
    from symgraph.gradient import grad_clip, grad_scale

    x = T.dvector("x")
    g = sg.grad((grad_clip(x, -1.0, 1.0) * np.array([5.0, 0.5, -3.0])).sum(), x)
    np.testing.assert_array_equal(g.eval({x: np.ones(3)}), [1.0, 0.5, -1.0])
    assert grad_clip(x, -1, 1).eval({x: np.array([7.0])})[0] == 7.0
    g2 = sg.grad(grad_scale(x, 0.5).sum(), x)
    np.testing.assert_array_equal(g2.eval({x: np.ones(2)}), [0.5, 0.5])
    with pytest.raises(ValueError, match="upper_bound .* below"):
        grad_clip(x, 1.0, -1.0)


def test_pydotprint_without_pydot_says_what_to_install():
    try:
        import pydot  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pydot"):
            sg.printing.pydotprint(T.dvector() * 2)
    else:
        pytest.skip("pydot is installed")


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "diff", "diag", "diagonal",
                                  "fill_diagonal", "nonzero", "sort", "argsort", "roll",
                                  "isclose", "allclose", "deg2rad", "rad2deg", "gamma", "inv",
                                  "mgrid", "ogrid", "choose", "bincount", "trace"])
def test_tensor_names(name):
    assert hasattr(T, name) and hasattr(T.basic, name)


def test_tensor_submodules():
    from symgraph.tensor.basic import as_tensor_variable, dot  # noqa: F401
    from symgraph.tensor.extra_ops import bincount, cumsum, repeat, squeeze, to_one_hot  # noqa
    from symgraph.tensor.sort import argsort, sort  # noqa: F401
    from symgraph.tensor.type import TensorType
    from symgraph.tensor.var import TensorConstant, TensorVariable

    assert isinstance(T.dvector(), TensorVariable)
    assert isinstance(T.constant(1.0), TensorConstant)
    assert T.dvector().type == TensorType("float64", (None,))
    # names that are both a module and a function stay functions, as in Theano
    x = T.dvector("x")
    assert T.var(x).ndim == 0 and T.sort(x).ndim == 1
    for mod in ("symgraph.tensor.var", "symgraph.tensor.sort", "symgraph.tensor.type"):
        importlib.import_module(mod)
    assert callable(T.var) and callable(T.sort)


def test_star_import_keeps_builtin_type():
    namespace = {}
    exec("from symgraph.tensor import *\nfrom symgraph.tensor.basic import *", namespace)
    assert namespace.get("type", type) is type


def test_variable_methods():
    x = T.dmatrix("x")
    a = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 5.0]])
    np.testing.assert_array_equal(x.sort().eval({x: a}), np.sort(a))
    np.testing.assert_array_equal(x.argsort(axis=0).eval({x: a}), np.argsort(a, 0))
    np.testing.assert_array_equal(x.cumsum(1).eval({x: a}), np.cumsum(a, 1))
    np.testing.assert_array_equal(x.cumprod().eval({x: a}), np.cumprod(a))
    np.testing.assert_array_equal(x.diagonal().eval({x: a}), np.diagonal(a))
    np.testing.assert_array_equal(x.nonzero_values().eval({x: a}), a[a != 0])
    for got, want in zip(x.nonzero(), np.nonzero(a)):
        np.testing.assert_array_equal(got.eval({x: a}), want)
    np.testing.assert_array_equal(x.repeat(2, 0).eval({x: a}), np.repeat(a, 2, 0))
    np.testing.assert_array_equal(x.take([1], 1).eval({x: a}), np.take(a, [1], 1))


def test_shared_variables_are_not_tensor_variables_as_in_theano():
    """Lasagne's recurrent layers use a TensorVariable initial state as given and repeat a
    shared one per example: the distinction must be Theano's."""
    s = sg.shared(np.arange(3.0).reshape(1, 3), name="s")
    assert not isinstance(s, T.TensorVariable) and isinstance(s, sg.Variable)
    assert isinstance(s, sg.compile.SharedVariable) and sg.compile.SharedVariable is type(s)
    n = T.iscalar("n")
    repeated = T.dot(T.ones((n, 1)), s) * s.T.sum()  # a tensor's operators and methods
    np.testing.assert_array_equal(sg.function([n], repeated)(4), np.tile([0, 3, 6], (4, 1)))


def test_compile_namespace_names():
    from symgraph.compile.profiling import ProfileStats
    from symgraph.function import In, Out

    assert (sg.compile.In, sg.compile.Out, sg.compile.ProfileStats) == (In, Out, ProfileStats)
    assert sg.compile.sharedvalue.shared is sg.shared and callable(sg.compile.as_op)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        sg.compile.nothing  # noqa: B018


def test_equal_computations():
    from symgraph.scan_module.scan_utils import equal_computations

    x, y = T.dvector("x"), T.dvector("y")
    assert equal_computations([T.exp(x) + 1, x], [T.exp(x) + 1, x])
    assert not equal_computations([T.exp(x) + 1], [T.exp(y) + 1])  # another input
    assert equal_computations([T.exp(x) + 1], [T.exp(y) + 1], [x], [y])
    assert not equal_computations([T.exp(x) + 1], [T.exp(x) + 2])  # another constant
    assert not equal_computations([T.exp(x)], [T.log(x)])  # another op
    assert not equal_computations([x], [x, y])
    assert not equal_computations([T.exp(x)], [T.exp(T.fvector("f"))], [x], [T.fvector("g")])
