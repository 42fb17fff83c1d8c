"""Shared test fixtures: tolerances by dtype (one place), seeded random generators."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

# Round-off tolerances for exact transforms on band-limited inputs, by dtype. float32: a transform sums O(B^2)
# terms of size O(1) and is measured at ~2e-6 relative at B <= 16, so 1e-4 leaves margin; float64 measured ~1e-13.
TOL = {"float32": 1e-4, "float64": 1e-10}


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    return TOL[dtype]
