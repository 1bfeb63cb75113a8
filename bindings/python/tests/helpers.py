"""Helpers shared by the tests (fixtures live in conftest.py)."""

import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from reference import random_params


def make_model(input_size, hidden_size, num_layers=1, bidirectional=False, seed=7, params=None):
    """An lstmkit.LSTM with random reference-generated weights; returns (model, params)."""
    model = lstmkit.LSTM(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional)
    if params is None:
        params = random_params(
            np.random.default_rng(seed), input_size, hidden_size, num_layers, bidirectional
        )
    model.load_state_dict(params)
    return model, params


def assert_still_works(model, x, lengths, expected):
    """The model gives the same results as before an error."""
    y, (h, c) = model(x, lengths)
    np.testing.assert_array_equal(y, expected[0])
    np.testing.assert_array_equal(h, expected[1])
    np.testing.assert_array_equal(c, expected[2])


def run_isolated(code):
    """Runs `code` in a fresh interpreter (for calls that might crash the process).

    Returns its stdout; fails the test with the exit status and stderr if it died.
    """
    import subprocess
    import sys

    # cwd: this directory, where no source tree can shadow the installed package
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, (
        f"the process died with status {proc.returncode}:\n{proc.stderr[:1500]}"
    )
    return proc.stdout


def run_threads(target, count):
    """Runs target(0), ..., target(count - 1) in `count` threads at once and waits for them;
    the first exception a thread raised is raised again here."""
    errors = []

    def wrapper(index):
        try:
            target(index)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def check_callback_exception_propagates(fit):
    """A progress callback's exception stops training and comes out of fit: `fit(callback)`
    trains with that callback."""
    def boom(line):
        raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        fit(boom)


def check_load_refuses_lstm_and_missing_files(cls, tmp_path):
    """cls.load refuses an LSTM's file (lstmkit.ModelFormatError naming "lstm") and a
    missing file (OSError)."""
    lstm_path = tmp_path / "lstm.safetensors"
    lstmkit.LSTM(3, 4).save(lstm_path)
    with pytest.raises(lstmkit.ModelFormatError, match='"lstm"'):
        cls.load(lstm_path)
    with pytest.raises(OSError):
        cls.load(tmp_path / "missing.safetensors")


def check_predict_threads(predict_proba, X):
    """predict_proba(X, threads=2) gives the same bits when 4 threads call it at once.
    OpenBLAS's rounding depends on its thread count, which parallel prediction pins to 1,
    so against threads=1 only close."""
    expected = predict_proba(X, threads=2)
    np.testing.assert_allclose(expected, predict_proba(X, threads=1), rtol=1e-5, atol=1e-6)
    results = [None] * 4

    def work(i):
        for _ in range(3):
            results[i] = predict_proba(X, threads=2)

    run_threads(work, 4)
    for r in results:
        np.testing.assert_array_equal(r, expected)


# -- the command-line tool inside the package --------------------------------------------

CLI = Path(lstmkit.__file__).resolve().parent / "_bin" / "lstmkit-cli"
needs_cli = pytest.mark.skipif(not CLI.is_file(), reason="the package was built without lstmkit-cli")


def cli(*args, ok=True):
    """Runs the package's lstmkit-cli; with `ok`, it must succeed."""
    proc = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def cli_error(*args):
    """Runs a command that must fail: exit code 1 and one line on stderr (returned)."""
    proc = cli(*args, ok=False)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmkit: error: "), proc.stderr
    return lines[0]
