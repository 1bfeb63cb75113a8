"""Shared fixtures. The tests exercise the INSTALLED lstmkit package.

`python -m pytest` puts the current directory first on sys.path; run from
bindings/python that would shadow the installed package with the source tree (which
has no built extension), so that directory is dropped here before lstmkit is imported.
"""

import os
import sys
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _SOURCE_TREE]

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import make_model  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def small_model():
    """A 2-layer BiLSTM (D=5, H=4) with a fixed input and its output, for error tests."""
    model, params = make_model(5, 4, num_layers=2, bidirectional=True, seed=3)
    x = np.random.default_rng(11).standard_normal((3, 6, 5)).astype(np.float32)
    lengths = np.array([6, 2, 4], dtype=np.int32)
    y, (h, c) = model(x, lengths)
    return model, x, lengths, (y, h, c)
