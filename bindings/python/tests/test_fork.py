"""Fork safety (issue 17, item 6): os.fork() while other threads are inside LSTMKit calls
leaves a usable child (multiprocessing's fork start method, gunicorn --preload).

Each test forks several times while a thread loops over a call; every child repeats
the calls it inherited a half-taken lock for and must exit 0 within CHILD_SECONDS with
the parent's answers. A hang before the fix shows as a child killed by its alarm."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from helpers import make_model

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about fork in a multi-threaded process: that is the case tested.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

TOKENIZER = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "golden" / "tokenizer.safetensors"
FORKS = 6
CHILD_SECONDS = 20


def _fork_while_busy(busy, child):
    """Runs busy() in a loop on a thread, forks FORKS times; each child runs child() and
    exits 0 if it returned True. Returns the children's wait statuses that were not 0."""
    stop = threading.Event()
    started = threading.Event()

    def loop():
        while not stop.is_set():
            busy()
            started.set()

    thread = threading.Thread(target=loop)
    thread.start()
    failures = []
    try:
        started.wait(CHILD_SECONDS)
        for round in range(FORKS):
            time.sleep(0.01 + 0.007 * round)  # fork at different points of the busy call
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    signal.alarm(CHILD_SECONDS)
                    code = 0 if child() else 3
                finally:
                    os._exit(code)
            deadline = time.monotonic() + CHILD_SECONDS + 5
            while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            if done[0] == 0:
                os.kill(pid, signal.SIGKILL)
                done = os.waitpid(pid, 0)
            if done[1] != 0:
                failures.append(f"fork {round}: wait status {done[1]:#x}")
    finally:
        stop.set()
        thread.join()
    return failures


def test_fork_while_another_thread_is_in_cut_many_child_can_add_words():
    tok = lstmkit.Tokenizer.load(TOKENIZER)
    texts = ["我爱北京天安门，天安门上太阳升。" * 4] * 48
    expected = tok.cut_many(texts[:4], threads=2)

    def child():
        tok.add_words(["天安门上"])  # the write lock cut_many held at the fork
        tok.clear_words()
        return tok.cut_many(texts[:4], threads=2) == expected and tok.cut(texts[0]) == expected[0]

    assert _fork_while_busy(lambda: tok.cut_many(texts, threads=2), child) == []
    assert tok.cut_many(texts[:4], threads=2) == expected  # the parent goes on as before


def test_fork_during_multithreaded_blas_forward_child_can_forward():
    before = lstmkit.get_num_threads()
    lstmkit.set_num_threads(2)
    try:
        model, _ = make_model(96, 192, num_layers=2, bidirectional=True, seed=5)
        x = np.random.default_rng(6).standard_normal((24, 16, 96)).astype(np.float32)
        expected = model(x)[0]

        def child():
            y = model(x)[0]  # GEMMs on two BLAS threads, and the bidirectional pair
            return np.array_equal(y, expected) and lstmkit.get_num_threads() == 2

        assert _fork_while_busy(lambda: model(x), child) == []
        np.testing.assert_array_equal(model(x)[0], expected)
    finally:
        lstmkit.set_num_threads(before)


_POOL_TOKENIZER = None


def _cut_with_pool_tokenizer(text):
    _POOL_TOKENIZER.add_words(["天安门上"])  # the write lock the parent's cut_many held
    _POOL_TOKENIZER.clear_words()
    return _POOL_TOKENIZER.cut_many([text], threads=2)[0]


def test_multiprocessing_fork_pool_while_another_thread_is_in_cut_many():
    import multiprocessing

    global _POOL_TOKENIZER
    _POOL_TOKENIZER = tok = lstmkit.Tokenizer.load(TOKENIZER)
    texts = ["我爱北京天安门，天安门上太阳升。" * 4] * 48
    expected = [tok.cut(t) for t in texts[:8]]
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            tok.cut_many(texts, threads=2)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        time.sleep(0.05)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            # a worker that hung would time out here (the pool is terminated on exit)
            assert pool.map_async(_cut_with_pool_tokenizer, texts[:8]).get(timeout=60) == expected
    finally:
        stop.set()
        thread.join()
        _POOL_TOKENIZER = None
