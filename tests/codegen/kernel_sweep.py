"""What the kernel sweeps of every native backend share (test_llvm.py, test_c.py): edge-case
inputs, the comparison with the numpy reference, and running one graph on a backend and on the
python reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
from symgraph.compile.mode import Mode
from symgraph.types import TensorType

PY = Mode(backend="python", optimizer=None)
TOL = {"float16": 2e-3, "float32": 2e-6, "float64": 2e-13}


def special_values(dtype: str, n: int = 24, seed: int = 0) -> np.ndarray:
    """Edge cases (nan, +-inf, -0.0, extremes, halves) then random values."""
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        edge = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            2.5,
            -2.5,
            np.nan,
            np.inf,
            -np.inf,
            1e-30,
            3.0,
            0.3,
            -0.7,
            100.0,
        ]
        return np.concatenate([np.array(edge, dtype), (rng.standard_normal(n) * 3).astype(dtype)])
    if dtype == "bool":
        return rng.integers(0, 2, 16 + n).astype(bool)
    info = np.iinfo(dtype)
    edge = np.array([0, 1, info.max, info.min, 2, 3, 7], dtype)
    lo, hi = max(int(info.min), -50), min(int(info.max), 50)
    return np.concatenate([edge, rng.integers(lo, hi, 9 + n).astype(dtype)])


def compare(got, ref) -> None:
    """Same dtype and shape; floats within a few ulps, with nan and the sign of zero equal."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    assert got.shape == ref.shape
    if ref.dtype.kind == "f":
        tol = TOL[ref.dtype.name]
        np.testing.assert_allclose(
            got.astype("float64"), ref.astype("float64"), rtol=tol, atol=tol * 1e-3, equal_nan=True
        )
        zero = (ref == 0) & (got == 0)
        assert np.array_equal(np.signbit(got[zero]), np.signbit(ref[zero])), "sign of zero"
    else:
        np.testing.assert_array_equal(got, ref)


def run_both(mode: Mode, build, values, dtypes):
    """(result on `mode`, python result or the exception it raised, the program on `mode`)."""
    sym = [
        TensorType(d, (None,) * np.ndim(v))(f"x{k}") for k, (v, d) in enumerate(zip(values, dtypes))
    ]
    out = build(*sym)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ref = sg.function(sym, out, mode=PY)(*values)
        except Exception as exc:
            ref = exc
        f = sg.function(sym, out, mode=mode)
        if isinstance(ref, Exception):
            with pytest.raises(type(ref)):
                f(*values)
            return None, ref, f.program
        return f(*values), ref, f.program
