"""lstmkit.Forecaster: fit/predict/intervals/evaluate on a noiseless seasonal series,
exogenous inputs, save/load and pickling (same forecasts), scikit-learn's clone and
get_params, and bad input (NaN, empty series, horizon longer than the series, wrong
dtypes) as clear exceptions."""

import pickle

import numpy as np
import pytest

import lstmkit
from lstmkit import Forecaster, _native
from helpers import cli, cli_error, needs_cli

SMALL = dict(context=16, horizon=6, hidden_size=8, season=12, seed=2)
FIT = dict(epochs=12, verbose=False, threads=1)


def wave(n, start=0):
    t = np.arange(start, start + n, dtype=np.float64)
    return 10 + 2 * np.sin(2 * np.pi * t / 12) + np.sin(2 * np.pi * t / 7.3) + 0.02 * t


@pytest.fixture(scope="module")
def fitted():
    return Forecaster(**SMALL).fit(wave(200), **FIT)


def test_defaults_are_the_c_abi_defaults():
    c = _native.train_config_default("forecaster")
    f = Forecaster()
    assert (f.context, f.horizon, f.hidden_size, f.num_layers, f.season) == tuple(
        int(c[name]) for name in ("context", "horizon", "hidden_size", "num_layers", "season"))
    assert f.quantiles == (0.1, 0.5, 0.9) and f.cell == "lstm" and f.scaling == "window" and f.linear_context is True
    assert repr(f) == "Forecaster()"


def test_predict_intervals_and_quantiles(fitted):
    p = fitted.predict()
    assert p.shape == (6,) and p.dtype == np.float32
    future = wave(6, start=200)
    assert np.abs(p - future).mean() < 0.5   # the series' range is about 10
    lower, upper = fitted.predict_interval(coverage=0.8)
    assert lower.shape == upper.shape == (6,) and np.all(lower <= p) and np.all(p <= upper)
    q = fitted.predict_quantiles()
    assert q.shape == (6, 3) and np.all(np.diff(q, axis=1) >= 0) and np.array_equal(q[:, 1], p)
    assert np.array_equal(fitted.predict_quantiles(quantiles=[0.9])[:, 0], upper)
    assert fitted.predict(h=2).shape == (2,)
    assert fitted.quantile_levels == (0.1, 0.5, 0.9)
    with pytest.raises(ValueError, match="no quantile 0.25"):
        fitted.predict_quantiles(quantiles=[0.25])
    with pytest.raises(ValueError, match="no quantile"):
        fitted.predict_interval(coverage=0.5)
    # After another history.
    assert fitted.predict(y=wave(50, start=30)).shape == (6,)


def test_evaluate(fitted):
    r = fitted.evaluate(wave(230))
    assert set(r) == {"mase", "smape", "coverage", "nominal_coverage", "scaled_pinball", "windows"}
    assert r["windows"] == 230 - 200 - 6 + 1 and r["nominal_coverage"] == 0.8
    assert 0 < r["mase"] < 0.5 and 0 <= r["coverage"] <= 1 and r["smape"] > 0
    assert fitted.evaluate(wave(230), stride=6)["windows"] == 5
    assert fitted.score(wave(230)) == -r["mase"]
    with pytest.raises(ValueError, match="no horizon"):
        fitted.evaluate(wave(203))


def test_multivariate_with_exogenous(tmp_path):
    n = 160
    x = ((np.arange(n + 6) * 7) % 5).astype(np.float64)[:, None]
    y = np.stack([wave(n) + 3 * x[:n, 0], wave(n, 5)], axis=1)
    f = Forecaster(**SMALL).fit(y, x[:n], **FIT)
    p = f.predict(X_future=x[n:])
    assert p.shape == (6, 2)
    assert f.predict_quantiles(X_future=x[n:]).shape == (6, 2, 3)
    with pytest.raises(ValueError, match="X_future"):
        f.predict()
    with pytest.raises(ValueError, match="whole horizon"):
        f.predict(X_future=x[n:n + 3])
    path = tmp_path / "f.safetensors"
    f.save(path)
    g = Forecaster.load(path)
    assert np.array_equal(g.predict(X_future=x[n:], y=y, X=x[:n]), p)


def test_save_load_and_pickle(fitted, tmp_path):
    path = tmp_path / "f.safetensors"
    fitted.save(path)
    g = Forecaster.load(path)
    assert g.get_params() == fitted.get_params()
    assert np.array_equal(g.predict(y=fitted.y_[:, 0]), fitted.predict())
    with pytest.raises(ValueError, match="pass y="):
        g.predict()
    h = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(h.predict(), fitted.predict())


def test_loop_settings_and_quantiles_by_name():
    f = Forecaster(**dict(SMALL, quantiles=[0.2, 0.5, 0.8]), schedule="cosine", time_limit=30)
    assert f.get_params()["schedule"] == "cosine" and "schedule='cosine'" in repr(f)
    f.fit(wave(200), **FIT)
    assert f.quantile_levels == (0.2, 0.5, 0.8)
    with pytest.raises(TypeError, match="unexpected keyword argument 'pooling'"):
        Forecaster(pooling="mean")
    with pytest.raises(TypeError, match="quantiles"):
        Forecaster(**dict(SMALL, quantiles="0.1,0.5")).fit(wave(200), **FIT)
    with pytest.raises(ValueError, match="schedule"):
        Forecaster(**SMALL, schedule="linear").fit(wave(200), **FIT)


def test_sklearn_clone_and_params():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone

    f = Forecaster(context=8, quantiles=(0.05, 0.5, 0.95), cell="lstm")
    c = clone(f)
    assert c.get_params() == f.get_params() and c is not f
    assert c.set_params(horizon=3).horizon == 3
    with pytest.raises(ValueError, match="invalid parameter"):
        f.set_params(bogus=1)
    assert "context=8" in repr(f) and "quantiles=(0.05, 0.5, 0.95)" in repr(f)


@pytest.mark.parametrize("y, error, match", [
    (np.array([]), ValueError, "empty"),
    (np.array([1.0, np.nan] + [1.0] * 100), ValueError, "step 1"),
    (np.array([1.0, np.inf] + [1.0] * 100), ValueError, "step 1"),
    (np.array(["a"] * 100), TypeError, "numbers"),
    (np.array([object()] * 100), TypeError, "numbers"),
    (np.zeros((10, 2, 2)), ValueError, r"\(T,\) or \(T, channels\)"),
    (np.zeros((100, 0)), ValueError, "empty"),
    (wave(30), ValueError, "too short"),
])
def test_bad_series(y, error, match):
    with pytest.raises(error, match=match):
        Forecaster(**SMALL).fit(y, **FIT)


def test_bad_arguments(fitted):
    with pytest.raises(ValueError, match="too short"):
        Forecaster(context=16, horizon=500).fit(wave(200), **FIT)   # a horizon longer than the series
    with pytest.raises(ValueError, match="h must be in"):
        fitted.predict(h=7)
    with pytest.raises(TypeError, match="h must be an int"):
        fitted.predict(h=2.5)
    with pytest.raises(ValueError, match="last 16"):
        fitted.predict(y=wave(10))
    with pytest.raises(ValueError, match="without exogenous"):
        fitted.predict(X_future=np.zeros((6, 1)))
    with pytest.raises(ValueError, match="quantiles"):
        Forecaster(**dict(SMALL, quantiles=(0.1, 0.9))).fit(wave(200), **FIT)
    with pytest.raises(ValueError, match="scaling"):
        Forecaster(**dict(SMALL, scaling="none")).fit(wave(200), **FIT)
    with pytest.raises(ValueError, match="hidden_size"):
        Forecaster(**dict(SMALL, hidden_size=0)).fit(wave(200), **FIT)
    with pytest.raises(ValueError, match="dev_fraction"):
        Forecaster(**SMALL).fit(wave(200), dev_fraction=0.9, **FIT)
    with pytest.raises(ValueError, match="coverage"):
        fitted.predict_interval(coverage=1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster().predict()
    with pytest.raises(lstmkit.ModelFormatError):
        Forecaster.load(__file__)


# -- the command-line tool: train-forecaster and forecast ---------------------------------

@needs_cli
def test_cli_csv_with_exogenous_and_npy(tmp_path):
    n = 160
    x = (np.arange(n + 6) * 7) % 5
    y = wave(n) + 3 * x[:n]
    (tmp_path / "s.csv").write_text("day,demand,price\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in enumerate(zip(y, x))))
    (tmp_path / "f.csv").write_text("price\n" + "".join(f"{b}\n" for b in x[n:]))
    model = tmp_path / "m.safetensors"
    out = cli("train-forecaster", "--input", tmp_path / "s.csv", "--targets", "demand", "--exogenous", "price",
              "--output", model, "--context", 16, "--horizon", 6, "--hidden-size", 8, "--epochs", 3, "--log-every", 2).stdout
    assert "training a forecaster on 160 steps of 1 target and 1 exogenous" in out and "epoch 3 done" in out
    assert "model written to" in out.splitlines()[-1]
    lines = cli("forecast", tmp_path / "s.csv", "--model", model, "--targets", "demand", "--exogenous", "price",
                "--future", tmp_path / "f.csv").stdout.splitlines()
    assert len(lines) == 6
    step, point, lower, upper = (float(v) for v in lines[0].split("\t"))
    assert step == 1 and lower <= point <= upper
    # The same forecasts as Python's.
    f = Forecaster.load(model)
    p = f.predict(X_future=x[n:, None], y=y, X=x[:n, None])
    assert np.allclose([float(line.split("\t")[1]) for line in lines], p, rtol=1e-6)
    assert "--future" in cli_error("forecast", tmp_path / "s.csv", "--model", model, "--targets", "demand", "--future",
                                   tmp_path / "f.csv")
    assert "needs 166" in cli_error("forecast", tmp_path / "s.csv", "--model", model, "--targets", "demand",
                                    "--exogenous", "price")
    assert "no column \"cost\"" in cli_error("train-forecaster", "--input", tmp_path / "s.csv", "--targets", "cost",
                                            "--output", tmp_path / "x.safetensors")
    # A .npy series, and bad input through this door.
    np.save(tmp_path / "y.npy", wave(200).astype(np.float32))
    cli("train-forecaster", "--input", tmp_path / "y.npy", "--output", tmp_path / "y.safetensors", "--context", 12,
        "--horizon", 4, "--epochs", 1)
    assert len(cli("forecast", tmp_path / "y.npy", "--model", tmp_path / "y.safetensors", "--horizon", 2).stdout.splitlines()) == 2
    assert "too short" in cli_error("train-forecaster", "--input", tmp_path / "y.npy", "--output", tmp_path / "z.safetensors",
                                    "--horizon", 500)
    bad = wave(200)
    bad[17] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "step 17" in cli_error("train-forecaster", "--input", tmp_path / "nan.npy", "--output", tmp_path / "z.safetensors")
    assert "is the input" in cli_error("train-forecaster", "--input", tmp_path / "y.npy", "--output", tmp_path / "y.npy")
