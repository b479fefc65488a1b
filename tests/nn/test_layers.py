"""Layers: outputs against numpy, parameters and tags, train/test forms, bad input."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph import nn
from symgraph.nn import init

rng = np.random.default_rng(0)


def test_dense_matches_numpy_and_flattens():
    layer = nn.Dense(6, 3, nonlinearity=T.tanh, name="fc")
    x = T.tensor3("x")
    f = sg.function([x], layer(x))
    v = rng.normal(size=(2, 2, 3))
    W, b = layer.W.get_value(), layer.b.get_value()
    np.testing.assert_allclose(f(v), np.tanh(v.reshape(2, 6) @ W + b))
    assert layer.get_params() == [layer.W, layer.b]
    assert layer.get_params(regularizable=True) == [layer.W]


def test_dense_rejects_wrong_feature_count():
    layer = nn.Dense(5, 2, name="fc")
    x = T.tensor(dtype="float64", shape=(None, 4), name="x")
    with pytest.raises(ValueError, match=r"(?s)Dense 'fc'.*4 features.*expects 5"):
        layer(x)


def test_sequential_collects_named_params():
    net = nn.Sequential(nn.Dense(4, 8, name="hidden"), nn.Dropout(0.5), nn.Dense(8, 2))
    names = sorted(net.named_params())
    assert names == ["2.W", "2.b", "hidden.W", "hidden.b"]
    assert len(net.get_params(trainable=True)) == 4


def test_dropout_train_and_test_forms():
    layer = nn.Dropout(p=0.25, seed=1)
    x = T.dmatrix("x")
    train = sg.function([x], layer(x))
    test = sg.function([x], layer(x, deterministic=True))
    out = train(np.ones((100, 100)))
    assert set(np.unique(out)) <= {0.0, 1 / 0.75}
    assert abs((out > 0).mean() - 0.75) < 0.03
    np.testing.assert_array_equal(test(np.ones((3, 3))), np.ones((3, 3)))


def test_batchnorm_normalizes_and_tracks_running_stats():
    bn = nn.BatchNorm(3, alpha=0.5)
    x = T.dmatrix("x")
    train = sg.function([x], bn(x))
    test = sg.function([x], bn(x, deterministic=True))
    v = rng.normal(loc=5.0, scale=2.0, size=(64, 3))
    out = train(v)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(bn.mean.get_value(), 0.5 * v.mean(axis=0))
    np.testing.assert_allclose(test(v), (v - bn.mean.get_value()) * bn.inv_std.get_value())
    assert bn.mean not in bn.get_params(trainable=True)


def test_embedding_selects_rows():
    emb = nn.Embedding(10, 4)
    idx = T.ivector("idx")
    f = sg.function([idx], emb(idx))
    np.testing.assert_array_equal(
        f(np.array([3, 3, 1], dtype="int32")), emb.W.get_value()[[3, 3, 1]]
    )
    with pytest.raises(TypeError, match="integers"):
        emb(T.dvector("v"))


@pytest.mark.parametrize(
    "initializer,shape",
    [
        (init.GlorotUniform(), (400, 300)),
        (init.GlorotNormal(), (400, 300)),
        (init.HeUniform(), (64, 32, 3, 3)),
        (init.HeNormal(), (64, 32, 3, 3)),
    ],
)
def test_initializer_variances(initializer, shape):
    w = initializer(shape)
    fan_in, fan_out = init.fans(shape)
    expected = 2 / (fan_in + fan_out) if "Glorot" in type(initializer).__name__ else 1 / fan_in
    assert w.dtype == sg.config.floatX and w.shape == shape
    assert w.var() == pytest.approx(expected, rel=0.1)


def test_orthogonal_and_constant():
    q = init.Orthogonal()((5, 5))
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-10)
    np.testing.assert_array_equal(init.Constant(3.0)((2,)), [3.0, 3.0])
