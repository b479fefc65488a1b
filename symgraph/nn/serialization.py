"""Saving and loading parameters by name, for checkpoints and fine-tuning (.npz, or .h5).

``load_params`` copies every saved array whose name and shape match a parameter of the model
and reports the rest, so a pretrained network can be reused with a changed last layer (the
Caffe workflow): the changed layer keeps its fresh initialization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class LoadReport:
    """What load_params did: names copied, kept (re-initialized), and unused in the file."""

    loaded: list[str] = field(default_factory=list)
    reinitialized: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} parameters"]
        if self.reinitialized:
            lines.append("kept their initial values: " + ", ".join(self.reinitialized))
        if self.mismatched:
            lines.append("shape mismatches: " + "; ".join(self.mismatched))
        if self.unused:
            lines.append("not in the model: " + ", ".join(self.unused))
        return "\n".join(lines)


def _named(model) -> dict:
    if hasattr(model, "named_params"):
        return model.named_params()
    if isinstance(model, dict):
        return dict(model)
    params = list(model)
    return {p.name or f"param{k}": p for k, p in enumerate(params)}


def save_params(model, path: str | Path) -> None:
    """Write the model's parameters (names -> arrays) to `path` (.npz, or .h5 with h5py)."""
    arrays = {name: p.get_value() for name, p in _named(model).items()}
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        h5py = _h5py(path)
        with h5py.File(path, "w") as f:
            for name, value in arrays.items():
                f.create_dataset(name, data=value)
        return
    np.savez(path, **arrays)


def _h5py(path: Path):
    try:
        import h5py
    except ImportError:
        raise ImportError(
            f"{path} is an HDF5 file, which needs h5py: pip install 'symgraph[hdf5]' "
            "(or save to .npz, which needs nothing more)"
        ) from None
    return h5py


def _read(path: Path) -> dict[str, np.ndarray]:
    if path.suffix in (".h5", ".hdf5"):
        h5py = _h5py(path)
        with h5py.File(path, "r") as f:
            return {name: np.asarray(f[name]) for name in f}
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def load_params(model, path: str | Path, strict: bool = True) -> LoadReport:
    """Copy saved arrays into the model's parameters whose name and shape match.

    With ``strict=True`` any difference (a missing, extra or reshaped parameter) raises
    ValueError listing every mismatch; with ``strict=False`` matching parameters are loaded
    and the report says which kept their initial values.
    """
    path = Path(path)
    if not path.exists() and path.with_suffix(".npz").exists():
        path = path.with_suffix(".npz")
    saved = _read(path)
    params = _named(model)
    report = LoadReport()
    for name, param in params.items():
        if name not in saved:
            report.reinitialized.append(name)
            continue
        value = saved[name]
        current = param.get_value(borrow=True)
        if value.shape != current.shape:
            report.mismatched.append(f"{name}: saved {value.shape}, model {current.shape}")
            report.reinitialized.append(name)
            continue
        param.set_value(value.astype(current.dtype))
        report.loaded.append(name)
    report.unused = [n for n in saved if n not in params]
    if strict and (report.mismatched or report.unused or report.reinitialized):
        problems = report.mismatched + [
            f"{n}: not in the file"
            for n in report.reinitialized
            if not any(m.startswith(n + ":") for m in report.mismatched)
        ]
        problems += [f"{n}: in the file but not in the model" for n in report.unused]
        raise ValueError(
            f"load_params({str(path)!r}, strict=True): "
            f"{len(problems)} mismatches:\n  " + "\n  ".join(problems)
        )
    return report
