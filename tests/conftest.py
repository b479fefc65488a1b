"""Test set-up: a private compile cache per session and a fixed numpy seed per test."""

import numpy as np
import pytest

from symgraph.config import config


@pytest.fixture(autouse=True, scope="session")
def _private_compiledir(tmp_path_factory):
    old = config.compiledir
    config.compiledir = str(tmp_path_factory.mktemp("compiledir"))
    yield
    config.compiledir = old


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
