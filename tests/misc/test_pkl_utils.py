"""pkl_utils.dump / load: a zip of a pickle and .npy arrays, read back unchanged."""

import io
import zipfile

import numpy as np

import symgraph as sg
from symgraph.misc.pkl_utils import dump, load


def test_round_trip_with_shared_variables(tmp_path):
    W = sg.shared(np.arange(6.0).reshape(2, 3), name="W")
    obj = {"W": W, "a": np.ones(3, "float32"), "same": None, "n": 3}
    obj["same"] = obj["a"]
    path = tmp_path / "model.zip"
    with open(path, "wb") as f:
        dump(obj, f)
    with open(path, "rb") as f:
        back = load(f)
    np.testing.assert_array_equal(back["W"].get_value(), W.get_value())
    assert back["W"].name == "W" and back["a"].dtype == np.float32 and back["n"] == 3
    assert back["same"] is back["a"]  # one array stored once
    names = zipfile.ZipFile(path).namelist()
    assert "pkl" in names and sum(n.endswith(".npy") for n in names) == 2


def test_arrays_readable_with_numpy_alone():
    buf = io.BytesIO()
    dump([np.arange(4)], buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as zf:
        (npy,) = [n for n in zf.namelist() if n.endswith(".npy")]
        arr = np.load(io.BytesIO(zf.read(npy)))
    np.testing.assert_array_equal(arr, np.arange(4))
