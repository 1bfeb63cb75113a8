"""Issue 19's training practice through Python and the CLI: the forecaster's truncated
BPTT (bptt_length, a constructor argument) and the loop's weight_decay (every model's)."""

import numpy as np
import pytest

from lstmkit import Forecaster, SequenceClassifier, _native
from helpers import cli, cli_error, needs_cli

SMALL = dict(context=16, horizon=6, hidden_size=8, season=12, seed=2)
FIT = dict(epochs=6, verbose=False, threads=1)


def wave(n):
    t = np.arange(n, dtype=np.float64)
    return 10 + 2 * np.sin(2 * np.pi * t / 12) + np.sin(2 * np.pi * t / 7.3) + 0.02 * t


@pytest.fixture(scope="module")
def plain():
    return Forecaster(**SMALL).fit(wave(200), **FIT).predict_quantiles()


def test_bptt_length_default_is_the_library_default():
    """The constructor's default is what the library trains when it is not given (the
    C struct has no field for it: a model trained without the name records it)."""
    config = dict(epochs=1, context=16, horizon=6, hidden_size=8)   # by name, bptt_length not among them
    handle = _native.forecaster_train(wave(200).astype(np.float32).reshape(-1, 1), None, config, None)
    assert Forecaster().bptt_length == int(handle.setting("bptt_length"))


def test_bptt_length_trains_saves_and_loads(plain, tmp_path):
    f = Forecaster(**SMALL, bptt_length=8).fit(wave(200), **FIT)
    q = f.predict_quantiles()
    assert q.shape == plain.shape and np.isfinite(q).all() and not np.array_equal(q, plain)
    f.save(tmp_path / "bptt.safetensors")
    loaded = Forecaster.load(tmp_path / "bptt.safetensors")
    assert loaded.bptt_length == 8
    assert np.array_equal(loaded.predict_quantiles(y=wave(200)), q)
    # 0 given is the default model, bit for bit.
    assert np.array_equal(Forecaster(**SMALL, bptt_length=0).fit(wave(200), **FIT).predict_quantiles(), plain)


@pytest.mark.parametrize("value, error, match", [(-1, ValueError, r"bptt_length must be in \[0, 65536\], got -1"),
                                                 (2.5, TypeError, r"bptt_length must be an int, got float")])
def test_bptt_length_is_range_checked(value, error, match):
    """The library's range; the type checked as every int setting's (its default is one)."""
    with pytest.raises(error, match=match):
        Forecaster(**SMALL, bptt_length=value).fit(wave(200), **FIT)


def test_weight_decay_zero_is_the_default_and_nonzero_changes_the_model(plain):
    assert np.array_equal(Forecaster(**SMALL, weight_decay=0.0).fit(wave(200), **FIT).predict_quantiles(), plain)
    decayed = Forecaster(**SMALL, weight_decay=0.1).fit(wave(200), **FIT).predict_quantiles()
    assert np.abs(decayed - plain).max() > 1e-6


@pytest.mark.parametrize("value", [1.0, -0.1, float("nan")])
def test_weight_decay_is_range_checked(value):
    x = [np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32) for _ in range(8)]
    with pytest.raises(ValueError, match=r"weight_decay must be in \[0, 1\)"):
        SequenceClassifier(members=1, weight_decay=value).fit(x, ["a", "b"] * 4, epochs=1, progress=False)


@needs_cli
def test_cli_bptt_length_and_weight_decay(tmp_path):
    np.save(tmp_path / "y.npy", wave(200).astype(np.float32))
    model = tmp_path / "y.safetensors"
    cli("train-forecaster", "--input", tmp_path / "y.npy", "--output", model, "--context", 12, "--horizon", 4,
        "--epochs", 1, "--bptt-length", 6, "--weight-decay", 0.01)
    assert Forecaster.load(model).bptt_length == 6
    assert len(cli("forecast", tmp_path / "y.npy", "--model", model).stdout.splitlines()) == 4
    assert "--weight-decay must be in [0, 1), got 2" in cli_error(
        "train-forecaster", "--input", tmp_path / "y.npy", "--output", tmp_path / "z.safetensors", "--weight-decay", 2)
    assert "--bptt-length must be in [0, 65536], got -3" in cli_error(
        "train-forecaster", "--input", tmp_path / "y.npy", "--output", tmp_path / "z.safetensors", "--bptt-length=-3")
