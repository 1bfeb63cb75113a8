"""One model shared by several Python threads: forward releases the GIL and is correct."""

import threading
import time

import numpy as np

import lstmkit
from helpers import make_model, run_threads

THREADS = 4
CALLS = 25


def _inputs(model, count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        b, t = rng.integers(1, 9), rng.integers(1, 20)
        x = rng.standard_normal((b, t, model.input_size)).astype(np.float32)
        lengths = rng.integers(1, t + 1, size=b)
        out.append((x, lengths))
    return out


def test_threads_sharing_one_model_get_single_threaded_results():
    model, _ = make_model(12, 24, num_layers=2, bidirectional=True, seed=1)
    work = [_inputs(model, CALLS, seed) for seed in range(THREADS)]
    expected = [[model(x, n) for x, n in inputs] for inputs in work]
    results = [[None] * CALLS for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def worker(index):
        start.wait()
        for call, (x, lengths) in enumerate(work[index]):
            results[index][call] = model(x, lengths)

    run_threads(worker, THREADS)
    for index in range(THREADS):
        for call in range(CALLS):
            y, (h, c) = results[index][call]
            ey, (eh, ec) = expected[index][call]
            np.testing.assert_array_equal(y, ey)
            np.testing.assert_array_equal(h, eh)
            np.testing.assert_array_equal(c, ec)


def test_forward_concurrent_with_load_state_dict():
    """Writers (load_state_dict) and readers (forward) on one handle never mix:
    every forward sees either the old or the new weights, never a blend."""
    model, params_a = make_model(6, 8, num_layers=2, bidirectional=True, seed=2)
    _, params_b = make_model(6, 8, num_layers=2, bidirectional=True, seed=3)
    x = np.random.default_rng(4).standard_normal((3, 10, 6)).astype(np.float32)
    model.load_state_dict(params_a)
    y_a = model(x)[0]
    model.load_state_dict(params_b)
    y_b = model(x)[0]
    assert not np.array_equal(y_a, y_b)
    seen = []
    stop = threading.Event()

    def worker(index):
        if index == 0:
            while len(seen) < 2:  # the readers are running
                time.sleep(0.001)
            for i in range(100):
                model.load_state_dict(params_a if i % 2 else params_b)
            stop.set()
        else:
            while not stop.is_set():
                seen.append(model(x)[0])

    run_threads(worker, 3)
    assert len(seen) >= 2
    for y in seen:
        assert np.array_equal(y, y_a) or np.array_equal(y, y_b)
    model.load_state_dict(params_a)
    np.testing.assert_array_equal(model(x)[0], y_a)


def test_gil_is_released_during_forward(capsys):
    """While one thread is inside forward, other Python threads run.

    Not a timing assertion: the counts are reported, the check is correctness.
    """
    model, _ = make_model(32, 64, num_layers=2, bidirectional=True, seed=5)
    x = np.random.default_rng(6).standard_normal((16, 100, 32)).astype(np.float32)
    expected = model(x)[0]
    inside = threading.Event()
    done = threading.Event()
    ticks = 0

    def forward_thread(_):
        inside.set()
        y = model(x)[0]
        done.set()
        np.testing.assert_array_equal(y, expected)

    def counter():
        nonlocal ticks
        inside.wait()
        while not done.is_set():
            ticks += 1

    t0 = time.perf_counter()
    c = threading.Thread(target=counter)
    c.start()
    run_threads(forward_thread, 1)
    c.join()
    elapsed = time.perf_counter() - t0

    # serial vs 4 threads, reported only
    inputs = [np.random.default_rng(i).standard_normal((8, 50, 32)).astype(np.float32)
              for i in range(4)]
    t1 = time.perf_counter()
    serial = [model(v)[0] for v in inputs]
    t_serial = time.perf_counter() - t1
    parallel = [None] * 4

    def work(index):
        parallel[index] = model(inputs[index])[0]

    t2 = time.perf_counter()
    run_threads(work, 4)
    t_parallel = time.perf_counter() - t2
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    with capsys.disabled():
        print(f"\n[threads] python loop ran {ticks} times during a {elapsed:.3f}s forward; "
              f"4 forwards: serial {t_serial:.3f}s, 4 threads {t_parallel:.3f}s "
              f"(lstmkit BLAS threads: {lstmkit.get_num_threads()})")
