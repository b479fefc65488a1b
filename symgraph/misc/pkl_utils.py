"""Theano's ``pkl_utils.dump`` / ``load``: pickle with the arrays stored as .npy files in a zip.

The zip holds ``pkl`` (the pickle, in which each numpy array is a reference) and one
``<name>.npy`` per array, so the parameters can be read back with numpy alone::

    with open("model.zip", "wb") as f:
        dump(params, f)
    with open("model.zip", "rb") as f:
        params = load(f)
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

DEFAULT_PROTOCOL = pickle.HIGHEST_PROTOCOL


class _Pickler(pickle.Pickler):
    """Writes each ndarray to the zip and leaves a reference in the pickle."""

    def __init__(self, file, zip_file: zipfile.ZipFile, protocol: int):
        super().__init__(file, protocol=protocol)
        self.zip_file = zip_file
        self.names: dict[int, str] = {}
        self.keep: list = []  # so ids stay unique while pickling

    def persistent_id(self, obj):
        if type(obj) is not np.ndarray or obj.dtype.hasobject:
            return None
        key = id(obj)
        if key not in self.names:
            name = f"array_{len(self.names)}"
            self.names[key] = name
            self.keep.append(obj)
            buf = io.BytesIO()
            np.lib.format.write_array(buf, obj)
            self.zip_file.writestr(f"{name}.npy", buf.getvalue())
        return f"ndarray.{self.names[key]}"


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, zip_file: zipfile.ZipFile):
        super().__init__(file)
        self.zip_file = zip_file
        self.cache: dict[str, np.ndarray] = {}

    def persistent_load(self, pid):
        kind, _, name = str(pid).partition(".")
        if kind != "ndarray":
            raise pickle.UnpicklingError(f"pkl_utils.load: unknown reference {pid!r}")
        if name not in self.cache:
            with self.zip_file.open(f"{name}.npy") as f:
                self.cache[name] = np.lib.format.read_array(io.BytesIO(f.read()))
        return self.cache[name]


def dump(obj, file_handler, protocol: int = DEFAULT_PROTOCOL, persistent_id=None) -> None:
    """Pickle `obj` into the binary file `file_handler` as a zip of a pickle and .npy arrays."""
    if persistent_id is not None:
        raise NotImplementedError("pkl_utils.dump: a custom persistent_id is not supported")
    with zipfile.ZipFile(file_handler, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        buf = io.BytesIO()
        _Pickler(buf, zf, protocol).dump(obj)
        zf.writestr("pkl", buf.getvalue())


def load(f, persistent_load=None):
    """Read back an object written by `dump` from the binary file `f`."""
    if persistent_load is not None:
        raise NotImplementedError("pkl_utils.load: a custom persistent_load is not supported")
    with zipfile.ZipFile(f, "r") as zf:
        return _Unpickler(io.BytesIO(zf.read("pkl")), zf).load()


__all__ = ["dump", "load"]
