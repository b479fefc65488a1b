"""Shared test helpers: run an op on every backend against numpy, check shapes and gradients.

`check_op(build, values, reference)` is the one helper every op test uses:
- the graph built by `build(*symbolic_inputs)` is compiled on every available backend and
  compared with `reference(*values)` (numpy);
- `infer_shape` of the output node is checked against the real output shape;
- with `grad=True`, `verify_grad` compares the symbolic gradient with finite differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import symgraph as sg
from symgraph.codegen import BACKENDS
from symgraph.compile.mode import Mode
from symgraph.gradient import verify_grad
from symgraph.types import TensorType


def backends() -> list[str]:
    """Every backend that can run on this machine (cuda only with a GPU)."""
    names = ["python"] + [b for b in ("llvm", "c") if b in BACKENDS]
    if "cuda" in BACKENDS and _cuda_available():
        names.append("cuda")
    return names


def _cuda_available() -> bool:
    """A GPU and pycuda are both here (checked once; False on any doubt)."""
    if not hasattr(_cuda_available, "answer"):
        try:
            from symgraph.codegen.cuda.compiler import nvcc_path
            from symgraph.codegen.cuda.driver import available

            _cuda_available.answer = available()[0] and nvcc_path() is not None
        except Exception:
            _cuda_available.answer = False
    return _cuda_available.answer


def modes() -> list[Mode]:
    """The python reference without rewrites, then every backend with all rewrites."""
    return [Mode(backend="python", optimizer=None)] + [Mode(backend=b) for b in backends()]


def symbolic_like(values: Sequence[np.ndarray], broadcastable: bool = True) -> list:
    """Symbolic inputs matching `values` (dims of size 1 broadcastable when asked)."""
    out = []
    for k, v in enumerate(values):
        v = np.asarray(v)
        shape = tuple(1 if (s == 1 and broadcastable) else None for s in v.shape)
        out.append(TensorType(v.dtype.name, shape)(f"in{k}"))
    return out


def check_op(
    build: Callable,
    values: Sequence,
    reference: Callable | None = None,
    *,
    grad: bool = False,
    grad_inputs: Sequence[int] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-7,
    check_shape: bool = True,
    broadcastable: bool = True,
    check_dtype: bool = True,
) -> None:
    """Check `build` on every backend against `reference`, plus infer_shape and gradients."""
    values = [np.asarray(v) for v in values]
    sym = symbolic_like(values, broadcastable)
    out = build(*sym)
    outs = out if isinstance(out, (list, tuple)) else [out]
    expected = None if reference is None else reference(*[v.copy() for v in values])
    expected = (
        None
        if expected is None
        else (list(expected) if isinstance(out, (list, tuple)) else [expected])
    )
    for mode in modes():
        f = sg.function(sym, list(outs), mode=mode, on_unused_input="ignore")
        got = f(*[v.copy() for v in values])
        if expected is None:
            expected = got
        for g, e, o in zip(got, expected, outs):
            e = np.asarray(e)
            assert np.shape(g) == e.shape, f"{mode}: shape {np.shape(g)} != {e.shape}"
            if check_dtype:
                assert np.asarray(g).dtype.name == o.dtype, f"{mode}: dtype {g.dtype} != {o.dtype}"
            np.testing.assert_allclose(
                g, e, rtol=rtol, atol=atol, err_msg=str(mode), equal_nan=True
            )
    if check_shape:
        check_infer_shape(sym, outs, values)
    if grad:
        idx = list(range(len(values))) if grad_inputs is None else list(grad_inputs)

        def partial(*xs):
            full = list(sym)
            for k, x in zip(idx, xs):
                full[k] = x
            return _sum_outputs(build(*full))

        others = {k: v for k, v in enumerate(values) if k not in idx}
        if others:
            # non-differentiated inputs are fixed as constants
            def partial(*xs, _build=build):  # noqa: F811
                full = [
                    sg.tensor.constant(others[k]) if k in others else None
                    for k in range(len(values))
                ]
                it = iter(xs)
                full = [next(it) if f is None else f for f in full]
                return _sum_outputs(_build(*full))

        verify_grad(partial, [values[k].astype(values[k].dtype) for k in idx])


def _sum_outputs(out):
    if isinstance(out, (list, tuple)):
        total = None
        for o in out:
            if o.dtype.startswith(("float", "complex")):
                total = o.sum() if total is None else total + o.sum()
        return total
    return out


def check_infer_shape(sym: Sequence, outs: Sequence, values: Sequence) -> None:
    """The output node's infer_shape on the real input shapes gives the real output shapes."""
    for out in outs:
        node = out.owner
        if node is None:
            continue
        in_vals = sg.function(
            list(sym),
            list(node.inputs),
            mode=Mode(backend="python", optimizer=None),
            on_unused_input="ignore",
        )(*values)
        out_vals = sg.function(
            list(sym),
            list(node.outputs),
            mode=Mode(backend="python", optimizer=None),
            on_unused_input="ignore",
        )(*values)
        shapes = node.op.infer_shape(node, [tuple(np.shape(v)) for v in in_vals])
        for k, (shp, real) in enumerate(zip(shapes, out_vals)):
            got = tuple(
                int(np.asarray(s)) if not hasattr(s, "owner") else _eval_int(s, sym, values)
                for s in shp
            )
            assert got == np.shape(real), (
                f"{node.op}.infer_shape output {k}: {got} != {np.shape(real)}"
            )


def _eval_int(s, sym, values) -> int:
    return int(sg.function(list(sym), s, on_unused_input="ignore")(*values))


def object_at_end_of_a_page(kind: type = float):
    """(obj, region): an object of type `kind` that is only a 16-byte header, ending where an
    unreadable page begins, so that reading any field past the header faults; keep `region`
    alive while `obj` is used."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    region = mmap.mmap(-1, 2 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(base + page, page, 0) == 0, ctypes.get_errno()
    header = base + page - 16
    ctypes.c_int64.from_address(header).value = 1 << 40  # never deallocated
    ctypes.c_int64.from_address(header + 8).value = id(kind)
    return ctypes.cast(header, ctypes.py_object).value, region


def run_in_new_processes(script: str, compiledir, times: int = 2) -> list[str]:
    """The standard output of `script` run in `times` fresh Python processes, one after the
    other, sharing the compiled-code cache `compiledir` (each must succeed)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(sg.__file__).parent.parent
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path, SYMGRAPH_FLAGS=f"compiledir={compiledir}")
    env.pop("SYMGRAPH_LD", None)  # the test session turns libraries off for itself only
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        for _ in range(times)
    ]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    return [r.stdout for r in runs]
