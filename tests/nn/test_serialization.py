"""Saving, loading and fine-tuning with a changed last layer."""

import pickle

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph import nn


def _net(n_out):
    return nn.Sequential(
        nn.Dense(4, 6, nonlinearity=T.tanh, name="body"), nn.Dense(6, n_out, name="head")
    )


def test_save_and_load_roundtrip(tmp_path):
    net = _net(3)
    x = T.dmatrix("x")
    before = sg.function([x], net(x))(np.ones((2, 4)))
    nn.save_params(net, tmp_path / "model.npz")
    other = _net(3)
    report = nn.load_params(other, tmp_path / "model.npz")
    assert sorted(report.loaded) == ["body.W", "body.b", "head.W", "head.b"]
    np.testing.assert_array_equal(sg.function([x], other(x))(np.ones((2, 4))), before)


def test_fine_tuning_with_a_changed_head(tmp_path):
    net = _net(3)
    nn.save_params(net, tmp_path / "pretrained.npz")
    new = _net(5)
    fresh_head = new[1].W.get_value()
    with pytest.raises(ValueError, match=r"(?s)head.W: saved \(6, 3\), model \(6, 5\).*head.b"):
        nn.load_params(new, tmp_path / "pretrained.npz", strict=True)
    report = nn.load_params(new, tmp_path / "pretrained.npz", strict=False)
    assert sorted(report.loaded) == ["body.W", "body.b"]
    assert sorted(report.reinitialized) == ["head.W", "head.b"]
    np.testing.assert_array_equal(new[0].W.get_value(), net[0].W.get_value())
    np.testing.assert_array_equal(new[1].W.get_value(), fresh_head)


def test_pickled_train_function_keeps_its_state():
    net = _net(2)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    loss = T.mean((net(x) - y) ** 2)
    params = net.get_params(trainable=True)
    train = sg.function([x, y], loss, updates=sg.updates.sgd(loss, params, 0.1))
    xv, yv = np.ones((3, 4)), np.zeros((3, 2))
    train(xv, yv)
    clone = pickle.loads(pickle.dumps(train))
    assert clone(xv, yv) == train(xv, yv)


def test_hdf5_without_h5py_says_how_to_get_it(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    model = _net(2)
    with pytest.raises(ImportError, match=r"symgraph\[hdf5\]"):
        nn.save_params(model, tmp_path / "p.h5")
