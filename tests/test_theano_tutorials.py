"""Programs from Theano's tutorials (the "Creating a new Op" tutorial, as_op, random
numbers) and a Lasagne-style dropout layer, with only the imports changed, against numpy."""

import pickle

import numpy
import numpy as np

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.ops import as_op
from symgraph.sandbox.rng_mrg import MRG_RandomStreams

# --- "Creating a new Op: Python implementation" -------------------------------------------


class DoubleOp(theano.Op):
    __props__ = ()

    def make_node(self, x):
        x = theano.tensor.as_tensor_variable(x)
        # Note: using x_.type() is dangerous, as it copies x's broadcasting
        # behaviour
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        z = output_storage[0]
        z[0] = x * 2

    def infer_shape(self, node, i0_shapes):
        return i0_shapes

    def grad(self, inputs, output_grads):
        return [output_grads[0] * 2]

    def R_op(self, inputs, eval_points):
        # R_op can receive None as eval_points.
        # That mean there is no diferientiable path through that input
        # If this imply that you cannot compute some outputs,
        # return None for those.
        if eval_points[0] is None:
            return eval_points
        return self.grad(inputs, eval_points)


class DoubleOp2(theano.Op):
    __props__ = ()

    itypes = [theano.tensor.dmatrix]
    otypes = [theano.tensor.dmatrix]

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        z = output_storage[0]
        z[0] = x * 2


class AXPBOp(theano.Op):
    """
    This creates an Op that takes x to a*x+b.
    """

    __props__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b
        super(AXPBOp, self).__init__()  # noqa: UP008 (the tutorial, verbatim)

    def make_node(self, x):
        x = theano.tensor.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        z = output_storage[0]
        z[0] = self.a * x + self.b

    def infer_shape(self, node, i0_shapes):
        return i0_shapes

    def grad(self, inputs, output_grads):
        return [self.a * output_grads[0]]


def test_double_op():
    x = theano.tensor.matrix()
    f = theano.function([x], DoubleOp()(x))
    inp = numpy.random.rand(5, 4).astype(theano.config.floatX)
    out = f(inp)
    assert numpy.allclose(inp * 2, out)
    # on every backend, fused with the elementwise code around it
    for backend in ("python", "llvm", "c"):
        g = theano.function([x], DoubleOp()(x) * 3 + 1, mode=theano.Mode(backend=backend))
        assert numpy.allclose(g(inp), inp * 6 + 1)


def test_double_op_grad_rop_and_shape():
    rng = numpy.random.RandomState(42)
    theano.gradient.verify_grad(DoubleOp(), [rng.rand(5, 7, 2)], rng=numpy.random.default_rng(0))
    x, v = T.dmatrix("x"), T.dmatrix("v")
    rop = theano.function([x, v], theano.Rop(DoubleOp()(x), x, v))
    a, e = rng.rand(3, 4), rng.rand(3, 4)
    numpy.testing.assert_allclose(rop(a, e), 2 * e)
    shape = theano.function([x], DoubleOp()(x).shape)(a)
    numpy.testing.assert_array_equal(shape, a.shape)
    assert DoubleOp() == DoubleOp() and hash(DoubleOp()) == hash(DoubleOp())


def test_double_op_with_itypes():
    x = theano.tensor.dmatrix()
    f = theano.function([x], DoubleOp2()(x))
    inp = numpy.random.rand(5, 4)
    assert numpy.allclose(inp * 2, f(inp))


def test_props_example():
    mult4plus5op = AXPBOp(4, 5)
    another_mult4plus5op = AXPBOp(4, 5)
    mult2plus3op = AXPBOp(2, 3)

    assert mult4plus5op == another_mult4plus5op
    assert mult4plus5op != mult2plus3op

    x = theano.tensor.matrix()
    f = theano.function([x], mult4plus5op(x))
    g = theano.function([x], mult2plus3op(x))

    inp = numpy.random.rand(5, 4).astype(theano.config.floatX)
    assert numpy.allclose(4 * inp + 5, f(inp))
    assert numpy.allclose(2 * inp + 3, g(inp))
    gx = theano.function([x], theano.grad(mult4plus5op(x).sum(), x))(inp)
    assert numpy.allclose(gx, 4)


# --- as_op -------------------------------------------------------------------------------------


def infer_shape_numpy_dot(node, input_shapes):
    ashp, bshp = input_shapes
    return [ashp[:-1] + bshp[-1:]]


@as_op(itypes=[theano.tensor.fmatrix, theano.tensor.fmatrix],
       otypes=[theano.tensor.fmatrix], infer_shape=infer_shape_numpy_dot)
def numpy_dot(a, b):
    return numpy.dot(a, b)


def test_as_op_example():
    x = theano.tensor.fmatrix()
    y = theano.tensor.fmatrix()
    f = theano.function([x, y], numpy_dot(x, y))
    inp1 = numpy.random.rand(5, 4).astype("float32")
    inp2 = numpy.random.rand(4, 7).astype("float32")
    out = f(inp1, inp2)
    assert out.dtype == numpy.float32
    assert numpy.allclose(out, numpy.dot(inp1, inp2))
    assert pickle.loads(pickle.dumps(numpy_dot)) is numpy_dot


# --- "Using random numbers" --------------------------------------------------------------------


def test_random_numbers_example_with_mrg():
    srng = MRG_RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = theano.function([], rv_u)
    g = theano.function([], rv_n, no_default_updates=True)  # Not updating rv_n.rng
    nearly_zeros = theano.function([], rv_u + rv_u - 2 * rv_u)
    f_val0, f_val1 = f(), f()
    assert not numpy.array_equal(f_val0, f_val1)
    numpy.testing.assert_array_equal(g(), g())
    numpy.testing.assert_allclose(nearly_zeros(), numpy.zeros((2, 2)), atol=1e-12)


# --- a Lasagne-style dropout layer -------------------------------------------------------------


class DropoutLayer:
    def __init__(self, p=0.5, rescale=True, seed=1234):
        self._srng = MRG_RandomStreams(seed)
        self.p = p
        self.rescale = rescale

    def get_output_for(self, input, deterministic=False):
        if deterministic or self.p == 0:
            return input
        one = T.constant(1)
        retain_prob = one - self.p
        if self.rescale:
            input /= retain_prob
        mask_shape = input.shape
        return input * self._srng.binomial(mask_shape, p=retain_prob, dtype=input.dtype)


def test_dropout_layer():
    layer = DropoutLayer(p=0.25)
    x = T.matrix("x")
    out = layer.get_output_for(x)
    train = theano.function([x], [out, theano.grad(out.sum(), x)])
    test = theano.function([x], layer.get_output_for(x, deterministic=True))
    data = numpy.random.uniform(1, 2, size=(200, 300)).astype(theano.config.floatX)
    y, gx = train(data)
    kept = y != 0
    numpy.testing.assert_allclose(y[kept], data[kept] / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02
    numpy.testing.assert_allclose(gx, kept / 0.75, rtol=1e-6)  # the same draw as the output
    y2, _ = train(data)
    assert not numpy.array_equal(y2 != 0, kept)  # a fresh mask each call
    numpy.testing.assert_array_equal(test(data), data)


# --- numpy-like functions that ported code uses ------------------------------------------------


def test_cumsum_sort_and_linalg_in_one_program():
    x = T.dvector("x")
    a = T.dmatrix("a")
    top = T.sort(x)[::-1][:3]
    ranks = T.argsort(T.argsort(x))
    csum = T.extra_ops.cumsum(x)
    chol = T.slinalg.cholesky(a)
    logdet = 2 * T.log(T.diag(chol)).sum()
    f = theano.function([x, a], [top, ranks, csum, logdet])
    v = np.array([0.3, -1.0, 2.5, 0.7, 1.1])
    m = np.array([[4.0, 1.0], [1.0, 3.0]])
    got = f(v, m)
    np.testing.assert_array_equal(got[0], np.sort(v)[::-1][:3])
    np.testing.assert_array_equal(got[1], np.argsort(np.argsort(v)))
    np.testing.assert_allclose(got[2], np.cumsum(v))
    np.testing.assert_allclose(got[3], np.linalg.slogdet(m)[1])
