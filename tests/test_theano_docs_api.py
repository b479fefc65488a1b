"""Programs spelled as Theano's documentation spells them (only the imports changed), for the
names and behaviours a Theano user reaches for: the tensor namespace, function(), modes,
config and random streams. Each compares against numpy."""

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph import function, shared
from symgraph.tensor.shared_randomstreams import RandomStreams

# --- int / int is floatX (Theano's TrueDiv), whatever the int widths -------------------------


@pytest.mark.parametrize("floatX", ["float32", "float64"])
def test_int_true_division_gives_floatX(floatX):
    with theano.change_flags(floatX=floatX):
        iv = T.ivector("iv")
        assert (iv / 2).dtype == floatX
        assert T.true_div(iv, iv).dtype == floatX
        assert (T.bvector() / T.bvector()).dtype == floatX
        assert (iv // 2).dtype == "int32"
        f = function([iv], [iv / 3, T.int_div(iv, 3), iv % 3])
        a = np.array([-7, 1, 7], "int32")
        q, d, r = f(a)
        assert q.dtype == floatX
        np.testing.assert_allclose(q, a / 3, rtol=1e-6)
        np.testing.assert_array_equal(d, a // 3)
        np.testing.assert_array_equal(r, a % 3)


def test_change_flags_context_and_decorator():
    old = theano.config.floatX

    @theano.change_flags(floatX="float32")
    def make():
        return T.vector()

    assert make().dtype == "float32"
    assert theano.config.floatX == old


# --- names of theano.tensor ------------------------------------------------------------------


def test_tensor_namespace_has_theano_names():
    for name in ("verify_grad", "numeric_grad", "consider_constant", "get_scalar_constant_value",
                 "NotScalarConstantError", "extract_constant", "DimShuffle", "Elemwise",
                 "CAReduce", "TensorSharedVariable", "discrete_dtypes", "float_dtypes",
                 "continuous_dtypes", "int_dtypes", "largest", "smallest", "ptp", "power",
                 "stacklists", "norm", "signal", "elemwise", "sharedvar"):
        assert hasattr(T, name), name
    for name in ("dot", "change_flags", "get_scalar_constant_value", "FunctionGraph",
                 "ProfileStats"):
        assert hasattr(theano, name), name
    from symgraph.compile.sharedvalue import SharedVariable
    from symgraph.tensor.sharedvar import TensorSharedVariable

    assert isinstance(shared(np.ones(2)), TensorSharedVariable)
    assert TensorSharedVariable is SharedVariable


def test_get_scalar_constant_value():
    x = T.matrix("x")
    assert int(T.get_scalar_constant_value(T.constant(3) * 2)) == 6
    assert float(T.get_scalar_constant_value(T.alloc(2.0, 3))) == 2.0  # all entries equal
    assert int(T.get_scalar_constant_value(T.specify_shape(x, (4, 5)).shape[1])) == 5
    with pytest.raises(T.NotScalarConstantError):
        T.get_scalar_constant_value(x.shape[0])
    with pytest.raises(T.NotScalarConstantError):
        T.get_scalar_constant_value(T.constant(np.arange(3)))
    assert T.extract_constant(x.shape[0]) is not None
    assert isinstance(T.extract_constant(T.constant(2) + 1), T.TensorConstant)


def test_small_aggregates_match_numpy(rng):
    x = T.matrix("x")
    a = rng.normal(size=(3, 4))
    f = function([x], [T.ptp(x, axis=0), T.norm(x, 2, axis=1), T.norm(x, 1),
                       T.largest(x, x + 1, 2 * x), T.smallest(x, -x), T.power(x, 2)])
    r = f(a)
    np.testing.assert_allclose(r[0], np.ptp(a, axis=0))
    np.testing.assert_allclose(r[1], np.linalg.norm(a, axis=1))
    np.testing.assert_allclose(r[2], np.abs(a).sum())
    np.testing.assert_allclose(r[3], np.maximum(np.maximum(a, a + 1), 2 * a))
    np.testing.assert_allclose(r[4], np.minimum(a, -a))
    np.testing.assert_allclose(r[5], a**2)
    s = [[T.scalar("a"), T.scalar("b")], [T.scalar("c"), T.scalar("d")]]
    m = function([v for row in s for v in row], T.stacklists(s))(1, 2, 3, 4)
    np.testing.assert_array_equal(m, [[1, 2], [3, 4]])


def test_as_tensor_variable_ndim_drops_leading_unit_axes():
    c = T.as_tensor_variable(np.ones((1, 3)), ndim=1)
    assert c.ndim == 1
    assert T.as_tensor_variable(T.row("r"), ndim=1).ndim == 1
    with pytest.raises(ValueError, match="ndim=1"):
        T.as_tensor_variable(np.ones((2, 3)), ndim=1)
    with pytest.raises(ValueError, match="expected 1"):
        T.as_tensor_variable(T.matrix("m"), ndim=1)


# --- function(): updates given as values, In(update=...), Theano's mode tags -------------------


def test_updates_given_as_python_values():
    a, b, c = shared(1.0), shared(np.ones(3, "float32")), shared(np.int32(1))
    f = function([], [], updates={a: 2.0, b: [0, 0, 0.5], c: 3})
    f()
    assert a.get_value() == 2.0 and c.get_value() == 3
    np.testing.assert_array_equal(b.get_value(), np.array([0, 0, 0.5], "float32"))
    with pytest.raises(TypeError, match="int32"):
        function([], [], updates={c: 3.5})


def test_in_with_update_is_refused_clearly():
    acc = T.scalar("acc")
    with pytest.raises(NotImplementedError, match="acc.*shared variable"):
        theano.In(acc, value=0.0, update=acc + 1)


def test_mode_including_excluding_theano_tags():
    v = T.vector("v")
    base = theano.compile.get_default_mode()
    for mode in (base.including("fast_run"), base.excluding("local_elemwise_fusion"),
                 base.excluding("inplace", "gpuarray"), base.including("cudnn", "conv_meta"),
                 theano.Mode(optimizer="fast_run", excluding=["fusion", "local_gpu_elemwise"])):
        f = function([v], T.exp(v) * 2 + 1, mode=mode)
        np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 2 + 1)
    assert "fusion" not in base.excluding("local_elemwise_fusion").pass_names()
    with pytest.raises(ValueError, match="unknown rewrite pass 'fusoin'"):  # a typo still is
        function([v], v + 1, mode=base.including("fusoin"))


# --- "Using Random Numbers": the generator state, as the tutorial handles it ------------------


def test_random_streams_tutorial_state_handling():
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    f = function([], rv_u)

    rng_val = rv_u.rng.get_value(borrow=True)  # Get the rng for rv_u
    rng_val.seed(89234)  # seeds the generator
    rv_u.rng.set_value(rng_val, borrow=True)  # Assign back seeded rng
    a = f()
    rng_val = rv_u.rng.get_value(borrow=True)
    rng_val.seed(89234)
    rv_u.rng.set_value(rng_val, borrow=True)
    np.testing.assert_array_equal(f(), a)

    nearly_zeros = function([], rv_u + rv_u - 2 * rv_u)
    state_after_v0 = rv_u.rng.get_value().get_state()
    nearly_zeros()  # this affects rv_u's generator
    v1 = f()
    rng = rv_u.rng.get_value(borrow=True)
    rng.set_state(state_after_v0)
    rv_u.rng.set_value(rng, borrow=True)
    v2 = f()  # v2 != v1
    v3 = f()  # v3 == v1
    assert not np.allclose(v1, v2)
    np.testing.assert_array_equal(v1, v3)


# --- "Debugging": test values computed as the graph is built ---------------------------------


def test_compute_test_value_reports_the_faulty_line():
    with theano.change_flags(compute_test_value="raise"):
        a = T.matrix("a")
        a.tag.test_value = np.ones((3, 4))
        b = T.matrix("b")
        b.tag.test_value = np.ones((5, 6))
        c = (T.exp(a) + 1).sum(axis=0)
        np.testing.assert_allclose(c.tag.test_value, 3 * (np.e + 1) * np.ones(4))
        with pytest.raises(ValueError, match="aligned"):
            T.dot(a, b)  # the error comes here, at build time
        r, _ = theano.scan(lambda x, acc: acc + x, sequences=a[0],
                           outputs_info=T.zeros_like(a[0, 0]))
        np.testing.assert_allclose(r.tag.test_value, [1, 2, 3, 4])
        with pytest.raises(ValueError, match="no test value"):
            T.vector("v") * 2


def test_shape_unpacks_like_a_tuple():
    x = T.matrix("x")
    rows, cols = x.shape
    assert len(x.shape) == 2
    f = function([x], [rows * cols, T.as_tensor_variable([x.shape, x.shape]).sum()])
    a, b = f(np.ones((2, 3)))
    assert a == 6 and b == 10
    with pytest.raises(TypeError, match="not iterable"):
        iter(T.vector("v"))


def test_floor_ceil_trunc_of_ints_are_float():
    iv = T.ivector("iv")
    assert T.ceil(iv).dtype == "float64" and T.floor(T.bvector()).dtype == "float32"
    f = function([iv], [T.ceil(iv / 2), T.floor(iv), T.trunc(-iv)])
    a = np.array([3, -4], "int32")
    c, fl, t = f(a)
    np.testing.assert_array_equal(c, np.ceil(a / 2))
    np.testing.assert_array_equal(fl, a.astype("float64"))
    np.testing.assert_array_equal(t, -a.astype("float64"))


# --- the LeNet tutorial of the Theano era: conv.conv2d and downsample.max_pool_2d ------------


def test_lenet_era_conv_and_downsample(rng):
    from symgraph.tensor.nnet import conv
    from symgraph.tensor.signal import downsample

    x = T.tensor4("x")
    image_shape, filter_shape = (2, 1, 8, 8), (3, 1, 5, 5)
    W = shared(rng.normal(size=filter_shape), name="W")
    conv_out = conv.conv2d(input=x, filters=W, filter_shape=filter_shape,
                           image_shape=image_shape)
    pooled_out = downsample.max_pool_2d(input=conv_out, ds=(2, 2), ignore_border=True)
    f = function([x], [conv_out, pooled_out])
    img = rng.normal(size=image_shape)
    c, p = f(img)
    w = W.get_value()[:, :, ::-1, ::-1]  # conv2d flips the filters
    ref = np.zeros((2, 3, 4, 4))
    for i in range(4):
        for j in range(4):
            ref[:, :, i, j] = np.tensordot(img[:, :, i : i + 5, j : j + 5], w,
                                           axes=[[1, 2, 3], [1, 2, 3]])
    np.testing.assert_allclose(c, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(p, ref.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)))


def test_outputs_dict_gives_a_dict():
    import pickle

    v = T.vector("v")
    f = function([v], {"double": v * 2, "total": v.sum()})
    out = f(np.array([1.0, 2.0]))
    assert sorted(out) == ["double", "total"]
    np.testing.assert_array_equal(out["double"], [2, 4])
    assert pickle.loads(pickle.dumps(f))(np.ones(2))["total"] == 2
    f.trust_input = True
    assert f(np.ones(3))["total"] == 3
    with pytest.raises(TypeError, match="strings"):
        function([v], {1: v})


def test_scan_module_path():
    from symgraph.scan_module import scan, until

    v = T.vector("v")
    r, _ = scan(lambda a: (a * 2, until(a > 2)), sequences=v)
    np.testing.assert_array_equal(function([v], r)(np.arange(6.0)), [0, 2, 4, 6])
    assert theano.scan_module.until is until


def test_random_streams_multinomial():
    srng = RandomStreams(3)
    one_hot = srng.multinomial(size=(2,), n=1, pvals=[[0.2, 0.8], [0.5, 0.5]])
    certain = srng.multinomial(pvals=[0.0, 1.0, 0.0], n=5)
    many = srng.multinomial(size=(20000,), n=1, pvals=[0.2, 0.3, 0.5])
    twice = srng.multinomial(size=(4, 3), n=2, pvals=[0.5, 0.5])
    a, b, c, d = function([], [one_hot, certain, many, twice])()
    assert a.shape == (2, 2) and (a.sum(axis=1) == 1).all() and a.dtype == np.int64
    np.testing.assert_array_equal(b, [0, 5, 0])
    np.testing.assert_allclose(c.mean(axis=0), [0.2, 0.3, 0.5], atol=0.02)
    assert d.shape == (4, 3, 2) and (d.sum(axis=-1) == 2).all()


def test_lasagne_transposed_conv_op_and_output_shape(rng):
    from symgraph.tensor.nnet import abstract_conv

    W, top = T.tensor4("W"), T.tensor4("top")
    w, t = rng.normal(size=(3, 4, 3, 3)), rng.normal(size=(2, 3, 5, 5))
    op = abstract_conv.AbstractConv2d_gradInputs(
        imshp=(None, 4, None, None), kshp=(3, 4, 3, 3), border_mode=(0, 0), subsample=(1, 1),
        filter_flip=True)
    out = function([W, top], op(W, top, T.as_tensor_variable((7, 7))))(w, t)
    X = T.tensor4("X")  # the transposed convolution is the gradient of conv2d wrt its input
    ref = T.grad((T.nnet.conv2d(X, W) * top).sum(), X)
    np.testing.assert_allclose(out, function([X, W, top], ref)(np.zeros((2, 4, 7, 7)), w, t))
    assert op == abstract_conv.AbstractConv2d_gradInputs(border_mode=(0, 0))
    get = abstract_conv.get_conv_output_shape
    assert get((2, 3, 5, 5), (4, 3, 3, 3), "valid", (1, 1)) == (2, 4, 3, 3)
    assert get((None, 3, 5, None), (4, 3, 3, 3), "half", (2, 2)) == (None, 4, 3, None)
    assert get((2, 3, 5, 5), (4, 3, 3, 3), (1, 2), (1, 1), (2, 2)) == (2, 4, 3, 5)


def test_numpy_values_on_the_left_stay_symbolic():
    x = T.vector("x")  # Theano's __array_priority__: ndarray op variable is a variable
    exprs = [np.ones(3) + x, np.float64(2) * x, np.arange(3) < x, np.ones(3) / x]
    assert all(isinstance(e, T.TensorVariable) for e in exprs)
    r = function([x], exprs)(np.full(3, 2.0))
    np.testing.assert_array_equal(r[0], [3, 3, 3])
    np.testing.assert_array_equal(r[2], [True, True, False])
    sized = T.specify_shape(x, (3,))  # a vector of known length is iterable, yet numpy
    assert isinstance(np.sqrt(2.0) * sized, T.TensorVariable)  # must not unpack it


def test_random_streams_permutations_and_row_shuffle():
    srng = RandomStreams(3)
    x = T.matrix("x")
    perms, one, shuffled = function(
        [x], [srng.permutation(size=(3,), n=5), srng.permutation(n=4),
              srng.shuffle_row_elements(x)])(np.arange(12.0).reshape(3, 4))
    assert perms.shape == (3, 5) and perms.dtype == np.int64
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.tile(np.arange(5), (3, 1)))
    np.testing.assert_array_equal(np.sort(one), np.arange(4))
    np.testing.assert_array_equal(np.sort(shuffled, axis=1), np.arange(12.0).reshape(3, 4))


def test_text_input_is_refused_naming_the_input():
    x = T.matrix("x")
    f = function([x], x * 2)
    with pytest.raises(TypeError, match="Bad input for 'x'.*received str"):
        f("abc")


def test_debugprint_depth_and_ids_as_theano():
    x = T.vector("x")
    y = (x * 2).sum()
    two_levels = theano.printing.debugprint(y, depth=2, file="str", ids="int")
    assert two_levels.splitlines() == ["Sum{axis=[0]} [id 0]", " |Elemwise{mul} [id 1]"]
    assert len(theano.printing.debugprint(y, depth=1, file="str").splitlines()) == 1
    assert "x [id C]" in theano.printing.debugprint(y, file="str")
