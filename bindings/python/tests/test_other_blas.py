"""NumPy's own OpenBLAS pool is held at one thread while a LSTMKit call runs, and given
its thread count back when the last overlapping call ends."""

import ctypes
import os

import numpy as np
import pytest

import lstmkit


def _loaded_objects():
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return {line.split()[-1] for line in maps if line.rstrip().endswith(".so") or ".so." in line}


def _numpy_openblas():
    """NumPy's own OpenBLAS (the wheels' scipy-openblas, inside NumPy's directory) and its
    get/set-threads functions, found without LSTMKit's help; None when NumPy uses a
    system BLAS."""
    numpy_root = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
    for path in _loaded_objects():
        real = os.path.realpath(path)
        if "openblas" in os.path.basename(real) and real.startswith(numpy_root) and "numpy" in real:
            lib = ctypes.CDLL(real)
            for prefix, suffix in [("scipy_openblas", "64_"), ("openblas", ""), ("openblas", "64_"), ("scipy_openblas", "")]:
                try:
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                    set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
                except AttributeError:
                    continue
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return real, get, set_
    return None


NUMPY_BLAS = _numpy_openblas()
needs_numpy_openblas = pytest.mark.skipif(NUMPY_BLAS is None, reason="NumPy uses a system BLAS, not its own OpenBLAS")


def _train_tiny_segmenter(on_line):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 8, 8)).astype(np.float32)
    m = (x > 128).astype(np.int64)
    seg = lstmkit.ImageSegmenter(2, hidden_size=2, encoder_channels=(2,), seed=1)
    seg.fit(x, m, validation_data=(x[:2], m[:2]), epochs=1, batch_size=4, log_every=1, verbose=on_line)


@needs_numpy_openblas
def test_numpy_pool_found_and_lstmkits_own_blas_not():
    files = [os.path.realpath(p["file"]) for p in lstmkit.other_blas_pools()]
    assert NUMPY_BLAS[0] in files
    own = [p for p in _loaded_objects() if "openblas" in p and "numpy" not in p and "scipy" not in p]
    for path in own:  # the OpenBLAS liblstmkit.so links follows lstmkit.set_num_threads instead
        assert os.path.realpath(path) not in files


@needs_numpy_openblas
def test_numpy_pool_held_at_one_thread_during_a_call_and_restored():
    _, get, set_ = NUMPY_BLAS
    before = get()
    set_(2)
    try:
        lstmkit.set_num_threads(2)
        seen, nested = [], []
        model = lstmkit.LSTM(3, 4)
        x = np.ones((1, 2, 3), np.float32)

        def on_line(_line):
            seen.append(get())
            if not nested:
                model(x)  # a call that starts and ends inside the training call
                nested.append(get())

        _train_tiny_segmenter(on_line)
        assert seen and set(seen) == {1}, seen
        assert nested == [1], "the nested call's end gave NumPy its threads back too early"
        assert get() == 2
        assert lstmkit.get_num_threads() == 2  # LSTMKit's own pool untouched

        lstmkit.limit_other_blas(False)
        try:
            seen.clear()
            _train_tiny_segmenter(lambda _line: seen.append(get()))
            assert set(seen) == {2}, seen
        finally:
            lstmkit.limit_other_blas(True)
        assert get() == 2
    finally:
        set_(before)


def test_limit_other_blas_arguments():
    with pytest.raises(TypeError, match="on"):
        lstmkit.limit_other_blas(1)
    assert lstmkit._native.other_blas_limited() is True
    for pool in lstmkit.other_blas_pools():
        assert set(pool) == {"file", "threads"} and pool["threads"] >= 1
