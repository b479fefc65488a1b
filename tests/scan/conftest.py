"""Every scan test runs twice: loops compiled by the python reference and by the native backend.

A Scan compiles its inner function with the default mode (config.mode), so switching the
default switches the inner backend (and that of the outer functions the tests build).
"""

import pytest

from symgraph.codegen import BACKENDS
from symgraph.config import config

INNER_BACKENDS = ["python"] + (["llvm"] if "llvm" in BACKENDS else [])


@pytest.fixture(autouse=True, params=INNER_BACKENDS)
def inner_backend(request):
    old = config.mode
    config.mode = request.param
    yield request.param
    config.mode = old
