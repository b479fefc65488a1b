"""Tests for symgraph/codegen/native_lib.py: cached object code linked into shared libraries,
and the warm start they give (a new process runs its kernels without importing LLVM)."""

from __future__ import annotations

import ctypes
import os

import pytest

from symgraph.codegen import native_lib
from symgraph.codegen.cache import DiskCache
from tests.helpers import run_in_new_processes

# Two functions in one object: `twice` calls `add`, and reads a constant (a relocation each).
_IR = """
@scale = internal constant i64 2
define i64 @sg_test_add(i64 %a, i64 %b) {
  %s = add i64 %a, %b
  ret i64 %s
}
define i64 @sg_test_twice(i64 %a) {
  %k = load i64, i64* @scale
  %m = mul i64 %a, %k
  %r = call i64 @sg_test_add(i64 %m, i64 1)
  ret i64 %r
}
"""
_IR_2 = """
define i64 @sg_test_neg(i64 %a) {
  %r = sub i64 0, %a
  ret i64 %r
}
"""


def _objects(cache: DiskCache) -> list[str]:
    from symgraph.codegen import llvm_jit

    keys = ["a1" * 32, "b2" * 32]
    for key, text in zip(keys, (_IR, _IR_2)):
        cache.put_bytes(key, llvm_jit.emit_object(text))
    return keys


def _call(lib, name: str, *args: int) -> int:
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * len(args))(
        native_lib.address(lib, name)
    )
    return fn(*args)


def test_objects_linked_later_load_as_one_library(tmp_path, libraries):
    cache = DiskCache(tmp_path)
    objects = _objects(cache)
    assert native_lib.load(cache, "c3" * 32) is None
    native_lib.link_later(cache, "c3" * 32, objects, "two objects")
    native_lib.wait()
    lib = native_lib.load(cache, "c3" * 32)
    assert lib is not None
    assert _call(lib, "sg_test_twice", 20) == 41
    assert _call(lib, "sg_test_neg", 5) == -5
    with pytest.raises(KeyError, match="sg_test_missing"):
        native_lib.address(lib, "sg_test_missing")


def test_a_damaged_library_is_not_loaded_and_is_linked_again(tmp_path, libraries):
    cache = DiskCache(tmp_path)
    objects = _objects(cache)
    native_lib.link_later(cache, "c3" * 32, objects, "two objects")
    native_lib.wait()
    path = native_lib.cached(cache, "c3" * 32)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as by a crash
    assert native_lib.cached(cache, "c3" * 32) is None
    assert native_lib.load(cache, "c3" * 32) is None
    native_lib.link_later(cache, "c3" * 32, objects, "two objects")
    native_lib.wait()
    assert _call(native_lib.load(cache, "c3" * 32), "sg_test_twice", 1) == 3


def test_nothing_is_linked_when_an_object_is_missing(tmp_path, libraries):
    cache = DiskCache(tmp_path)
    objects = _objects(cache)
    native_lib.link_later(cache, "c3" * 32, [*objects, "d4" * 32], "three objects")
    native_lib.wait()
    assert native_lib.cached(cache, "c3" * 32) is None


def test_a_linker_error_names_the_command_and_the_message(tmp_path, libraries):
    with pytest.raises(native_lib.LinkError, match=r"ld .*-shared.*\n.*") as err:
        native_lib.link([b"not an object file"], tmp_path / "x.so")
    assert "x.so" in str(err.value)
    assert not list(tmp_path.iterdir())  # the object files written for ld are removed


def test_no_linker_means_no_libraries(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAPH_LD", "none")
    native_lib.linker.cache_clear()
    cache = DiskCache(tmp_path)
    objects = _objects(cache)
    native_lib.link_later(cache, "c3" * 32, objects, "two objects")
    native_lib.wait()
    assert native_lib.linker() is None
    assert native_lib.load(cache, "c3" * 32) is None
    assert not list(tmp_path.rglob("*.so"))
    with pytest.raises(native_lib.LinkError, match="SYMGRAPH_LD"):
        native_lib.link(objects, tmp_path / "x.so")


_MLP = (
    "import sys, numpy as np, symgraph as sg, symgraph.tensor as T\n"
    "x, y = T.fmatrix('x'), T.ivector('y')\n"
    "w = sg.shared(np.linspace(-1, 1, 12, dtype='float32').reshape(4, 3), name='w')\n"
    "b = sg.shared(np.zeros(3, dtype='float32'), name='b')\n"
    "p = T.nnet.softmax(T.tanh(T.dot(x, w) + b))\n"
    "cost = T.mean(T.nnet.categorical_crossentropy(p, y))\n"
    "f = sg.function([x, y], cost, updates=[(w, w - 0.5 * sg.grad(cost, w))])\n"
    "xv = np.linspace(0, 1, 20, dtype='float32').reshape(5, 4)\n"
    "print([round(float(f(xv, np.array([0, 1, 2, 1, 0], 'int32'))), 6) for _ in range(3)])\n"
    "print('llvmlite.binding' in sys.modules)\n"
)


def test_a_second_process_runs_its_kernels_without_llvm(tmp_path):
    first, second = run_in_new_processes(_MLP, tmp_path)
    assert first.splitlines()[1] == "True"  # the first compiled
    assert second.splitlines()[1] == "False", second  # the second loaded the libraries
    assert first.splitlines()[0] == second.splitlines()[0]
    assert list(tmp_path.rglob("*.so"))


def test_a_process_that_cannot_use_a_library_links_the_objects(tmp_path):
    first = run_in_new_processes(_MLP, tmp_path, times=1)[0]
    for lib in tmp_path.rglob("*.so"):
        lib.write_bytes(b"\x7fELF damaged")
    second, third = run_in_new_processes(_MLP, tmp_path)
    assert second.splitlines() == [first.splitlines()[0], "True"]  # from the object files
    assert third.splitlines() == [first.splitlines()[0], "False"]  # linked again by the second


def test_a_library_the_loader_refuses_is_not_used(tmp_path, libraries):
    cache = DiskCache(tmp_path)
    cache.get_or_build_file("c3" * 32, native_lib.SUFFIX, lambda tmp: tmp.write_bytes(b"junk"))
    assert native_lib.cached(cache, "c3" * 32) is not None  # complete, as far as the cache knows
    assert native_lib.load(cache, "c3" * 32) is None  # but dlopen refuses it


def test_the_linker_is_found_as_shutil_which_finds_it(tmp_path, monkeypatch):
    import shutil

    plain, tool = tmp_path / "plain", tmp_path / "bin"
    plain.mkdir()
    tool.mkdir()
    (plain / "my-ld").write_text("")  # not executable: skipped
    (tool / "my-ld").write_text("#!/bin/sh\n")
    (tool / "my-ld").chmod(0o755)
    monkeypatch.setenv("PATH", f"{plain}{os.pathsep}{tool}")
    for name in ("my-ld", str(tool / "my-ld"), str(plain / "my-ld"), "missing-ld"):
        assert native_lib._executable(name) == shutil.which(name), name
    assert native_lib._executable("my-ld") == str(tool / "my-ld")
