"""Tests for symgraph/codegen/cache.py: keys, hits, integrity, concurrency and the CLI."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symgraph.codegen.cache import DiskCache, cache_key, cpu_identity, main
from symgraph.config import config

REPO = Path(__file__).resolve().parents[2]
KEY = cache_key("define void @f() { ret void }", "llvm", ["-O3"], {"llvmlite": "0.43"})


class Builder:
    """A build function that counts its calls."""

    def __init__(self, data: bytes = b"\x7fELF object code") -> None:
        self.data, self.calls = data, 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.data

    def file(self, tmp: Path) -> None:
        self.calls += 1
        tmp.write_bytes(self.data)


def test_miss_then_hit(tmp_path):
    cache, build = DiskCache(tmp_path), Builder()
    assert cache.get_bytes(KEY) is None
    assert cache.get_or_build_bytes(KEY, build) == (build.data, False)
    assert cache.get_or_build_bytes(KEY, build) == (build.data, True)
    assert cache.get_bytes(KEY) == build.data
    assert build.calls == 1
    assert (tmp_path / KEY[:2] / f"{KEY}.obj").read_bytes() == build.data
    assert not list(tmp_path.rglob("*.tmp*"))


def test_put_bytes_and_meta(tmp_path):
    cache = DiskCache(tmp_path)
    cache.put_bytes(KEY, b"abc", {"backend": "llvm", "function": "train"})
    assert cache.get_bytes(KEY) == b"abc"
    [entry] = cache.entries()
    assert (entry.key, entry.meta) == (KEY, {"backend": "llvm", "function": "train"})
    assert entry.size > 3 and entry.size == cache.total_size()


def test_root_defaults_to_config_compiledir_at_call_time(tmp_path, monkeypatch):
    cache = DiskCache()
    monkeypatch.setattr(config, "compiledir", str(tmp_path / "cc"))
    cache.put_bytes(KEY, b"abc")
    assert cache.root == tmp_path / "cc"
    assert (tmp_path / "cc" / KEY[:2] / f"{KEY}.obj").is_file()


def test_key_is_stable_and_hex():
    key = cache_key("src", "c", ("-O2",), {"gcc": "13", "ld": "2.4"})
    assert key == cache_key("src", "c", ["-O2"], {"ld": "2.4", "gcc": "13"})
    assert key == cache_key(b"src", "c", ("-O2",), {"gcc": "13", "ld": "2.4"})
    assert len(key) == 64 and int(key, 16) >= 0


def test_key_changes_with_every_input():
    base = {"source": "int f(){return 1;}", "backend": "c", "flags": ("-O2",)}
    base["versions"] = {"gcc": "13.2"}
    variants = [
        {"source": "int f(){return 2;}"},
        {"source": "int f(){return 1;} "},
        {"backend": "cuda"},
        {"flags": ()},
        {"flags": ("-O3",)},
        {"flags": ("-O2", "-g")},
        {"flags": ("-g", "-O2")},
        {"flags": ("-O2 -g",)},
        {"versions": None},
        {"versions": {"gcc": "13.3"}},
        {"versions": {"clang": "13.2"}},
        {"versions": {"gcc": "13.2", "nvcc": "12.4"}},
    ]
    keys = {cache_key(**base)} | {cache_key(**{**base, **v}) for v in variants}
    assert len(keys) == 1 + len(variants)
    assert cache_key("xc", "b") != cache_key("x", "cb")  # no ambiguity between fields


def test_key_covers_python_and_numpy_versions(monkeypatch):
    key = cache_key("src", "llvm")
    monkeypatch.setattr(np, "__version__", "0.0.1")
    assert cache_key("src", "llvm") != key
    monkeypatch.undo()
    monkeypatch.setattr(sys, "version", "2.7.0")
    assert cache_key("src", "llvm") != key


def test_key_refuses_a_string_of_flags():
    with pytest.raises(TypeError, match="flags"):
        cache_key("src", "c", "-O2")


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-3])


def _flip(p: Path, where: int = 5) -> None:
    raw = bytearray(p.read_bytes())
    raw[where] ^= 0x40
    p.write_bytes(bytes(raw))


def _empty(p: Path) -> None:
    p.write_bytes(b"")


@pytest.mark.parametrize("corrupt", [_truncate, _flip, _empty], ids=["truncate", "flip", "empty"])
def test_corrupt_bytes_entry_is_deleted_and_rebuilt(tmp_path, corrupt):
    cache, build = DiskCache(tmp_path), Builder()
    cache.get_or_build_bytes(KEY, build)
    corrupt(tmp_path / KEY[:2] / f"{KEY}.obj")
    assert cache.get_bytes(KEY) is None
    assert not (tmp_path / KEY[:2] / f"{KEY}.obj").exists()  # deleted, never loaded
    assert cache.get_or_build_bytes(KEY, build) == (build.data, False)
    assert build.calls == 2
    assert cache.get_or_build_bytes(KEY, build) == (build.data, True)


def test_corrupt_bytes_entry_is_rebuilt_by_get_or_build(tmp_path):
    cache, build = DiskCache(tmp_path), Builder()
    cache.get_or_build_bytes(KEY, build)
    _flip(tmp_path / KEY[:2] / f"{KEY}.obj", where=-1)
    assert cache.get_or_build_bytes(KEY, build) == (build.data, False)
    assert build.calls == 2


def test_file_entry_miss_then_hit(tmp_path):
    cache, build = DiskCache(tmp_path), Builder(b"\x7fELF shared library")
    seen = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        build.file(tmp)

    path, hit = cache.get_or_build_file(KEY, ".so", write, meta={"function": "f"})
    assert not hit and path == tmp_path / KEY[:2] / f"{KEY}.so"
    assert seen[0].parent == path.parent and seen[0] != path  # built beside it, then renamed
    assert path.read_bytes() == build.data
    assert (tmp_path / KEY[:2] / f"{KEY}.so.meta.json").is_file()
    assert cache.get_or_build_file(KEY, ".so", write) == (path, True)
    assert build.calls == 1
    assert [e.meta for e in cache.entries()] == [{"function": "f"}]
    assert not list(tmp_path.rglob("*.tmp*"))


@pytest.mark.parametrize("damage", ["no sidecar", "truncate", "flip", "bad sidecar"])
def test_damaged_file_entry_is_rebuilt(tmp_path, damage):
    cache, build = DiskCache(tmp_path), Builder(b"\x7fELF shared library")
    path, _ = cache.get_or_build_file(KEY, ".so", build.file)
    sidecar = path.with_name(path.name + ".meta.json")
    if damage == "no sidecar":
        sidecar.unlink()
    elif damage == "bad sidecar":
        sidecar.write_text("{not json")
    else:
        {"truncate": _truncate, "flip": _flip}[damage](path)
    assert cache.entries() == [] or damage == "flip"  # flip keeps the size: found on read
    assert cache.get_or_build_file(KEY, ".so", build.file) == (path, False)
    assert build.calls == 2 and path.read_bytes() == build.data
    assert cache.get_or_build_file(KEY, ".so", build.file) == (path, True)


def test_failed_build_leaves_nothing_behind(tmp_path):
    cache = DiskCache(tmp_path)

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError, match="compiler crashed"):
        cache.get_or_build_file(KEY, ".so", fail)
    with pytest.raises(RuntimeError, match="wrote nothing"):
        cache.get_or_build_file(KEY, ".so", lambda tmp: None)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{KEY}.lock"]
    assert cache.get_or_build_file(KEY, ".so", Builder().file)[1] is False


def test_bad_key_and_suffix_are_refused(tmp_path):
    cache = DiskCache(tmp_path)
    with pytest.raises(ValueError, match="hex"):
        cache.get_bytes("../../etc/passwd")
    for suffix in ("so", ".lock", ".meta.json", "./x", ".tmp"):
        with pytest.raises(ValueError, match="suffix"):
            cache.get_or_build_file(KEY, suffix, Builder().file)


def test_prune_removes_oldest_first_and_clear_removes_all(tmp_path):
    cache = DiskCache(tmp_path)
    keys = [cache_key(f"src{i}", "llvm") for i in range(4)]
    for i, key in enumerate(keys):
        cache.put_bytes(key, bytes(1000))
        os.utime(tmp_path / key[:2] / f"{key}.obj", (1000.0 + i, 1000.0 + i))
    cache.get_bytes(keys[0])  # a hit makes it the most recently used
    size = {e.key: e.size for e in cache.entries()}
    assert sum(size.values()) == cache.total_size()
    keep = size[keys[0]] + size[keys[3]]
    assert cache.prune(keep) == 2
    assert {e.key for e in cache.entries()} == {keys[0], keys[3]}
    assert cache.total_size() == keep
    assert cache.prune(keep) == 0
    assert cache.clear() == 2
    assert cache.entries() == [] and cache.total_size() == 0


def _worker(root: str, kind: str, barrier, queue) -> None:
    """One of several processes that want the same key at once."""
    counter = Path(root).parent / "builds.txt"

    def build() -> bytes:
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)  # long enough that the others arrive while it builds
        return b"object code " * 1000

    cache = DiskCache(root)
    barrier.wait()
    if kind == "bytes":
        data, hit = cache.get_or_build_bytes(KEY, build)
    else:
        path, hit = cache.get_or_build_file(KEY, ".so", lambda tmp: tmp.write_bytes(build()))
        data = path.read_bytes()
    queue.put((data, hit))


@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_concurrent_processes_build_once(tmp_path, kind):
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    root = tmp_path / "cache"
    procs = [ctx.Process(target=_worker, args=(str(root), kind, barrier, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(timeout=20)
        assert p.exitcode == 0
    assert len((tmp_path / "builds.txt").read_text().splitlines()) == 1
    assert {data for data, _ in results} == {b"object code " * 1000}
    assert sorted(hit for _, hit in results) == [False, True, True, True]


def _fill(root: Path) -> list[str]:
    cache = DiskCache(root)
    keys = [cache_key("a", "llvm"), cache_key("b", "c")]
    cache.put_bytes(keys[0], b"x" * 2048, {"backend": "llvm", "function": "train"})
    cache.get_or_build_file(keys[1], ".so", Builder().file, {"backend": "c", "function": "pred"})
    return keys


def test_cli_list_size_clear_prune(tmp_path, capsys):
    keys = _fill(tmp_path)
    assert main(["list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(k[:12] in out for k in keys)
    assert "function=train" in out and "backend=c" in out and ".so" in out
    assert "2 entries" in out
    main(["size", "--dir", str(tmp_path)])
    assert f"{DiskCache(tmp_path).total_size()} bytes in 2 entries" in capsys.readouterr().out
    main(["prune", "--max-mb", "0", "--dir", str(tmp_path)])
    assert "removed 2 keys" in capsys.readouterr().out
    _fill(tmp_path)
    main(["clear", "--dir", str(tmp_path)])
    assert "removed 2 keys" in capsys.readouterr().out
    assert DiskCache(tmp_path).entries() == []
    with pytest.raises(SystemExit):
        main(["prune", "--dir", str(tmp_path)])  # prune needs --max-mb


@pytest.mark.parametrize("module", ["symgraph.codegen.cache", "symgraph.cache"])
def test_cli_runs_as_module(tmp_path, module):
    _fill(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", module, "size", "--dir", str(tmp_path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert "in 2 entries" in out


def test_concurrent_threads_build_once(tmp_path):
    # the LLVM backend builds a function's kernels on threads: per-key locks hold between them
    import threading

    cache, build, barrier = DiskCache(tmp_path), Builder(b"object code"), threading.Barrier(4)
    results = []

    def work() -> None:
        barrier.wait()
        results.append(cache.get_or_build_bytes(KEY, lambda: time.sleep(0.05) or build()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert build.calls == 1
    assert sorted(results) == [(b"object code", False)] + [(b"object code", True)] * 3


def test_cpu_identity_is_the_model_and_its_features_not_its_clock():
    identity = cpu_identity()
    if not Path("/proc/cpuinfo").is_file():  # then keys ask LLVM (cache.host_cpu)
        assert identity is None
        return
    assert "flags=" in identity or "Features=" in identity
    assert "MHz" not in identity and "bogomips" not in identity.lower()
    assert identity == cpu_identity.__wrapped__()  # the same on every read
