"""Test set-up: a private compile cache per session and a fixed numpy seed per test."""

import os

import numpy as np
import pytest

from symgraph.codegen import native_lib
from symgraph.config import config


@pytest.fixture(autouse=True, scope="session")
def _private_compiledir(tmp_path_factory):
    old = config.compiledir
    config.compiledir = str(tmp_path_factory.mktemp("compiledir"))
    yield
    config.compiledir = old


@pytest.fixture(autouse=True, scope="session")
def _no_libraries():
    """No shared libraries linked in the test process: each test compiles its functions once,
    so a library would only serve a later process (thousands of linker runs for nothing).
    Tests of libraries turn them on (`libraries` below); new processes get them."""
    old = os.environ.get("SYMGRAPH_LD")
    os.environ["SYMGRAPH_LD"] = "none"
    native_lib.linker.cache_clear()
    yield
    if old is None:
        del os.environ["SYMGRAPH_LD"]
    else:
        os.environ["SYMGRAPH_LD"] = old
    native_lib.linker.cache_clear()


@pytest.fixture
def libraries(monkeypatch):
    """Shared libraries on, with the system linker (skips where there is none)."""
    monkeypatch.setenv("SYMGRAPH_LD", "ld")
    native_lib.linker.cache_clear()
    if native_lib.linker() is None:
        pytest.skip("no system linker (ld) on PATH")
    yield
    native_lib.wait()
    monkeypatch.setenv("SYMGRAPH_LD", "none")
    native_lib.linker.cache_clear()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
