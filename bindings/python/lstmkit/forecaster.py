"""lstmkit.Forecaster: point and quantile forecasts of univariate or multivariate series,
with optional exogenous inputs known in advance, from an LSTM (or GRU) trained by
LSTMKit — in the spirit of sktime's and statsforecast's forecasters.

    >>> from lstmkit import Forecaster
    >>> f = Forecaster(context=24, horizon=12, season=12)
    >>> f.fit(y)                                   # y: (T,) or (T, k) numbers
    >>> f.predict()                                # the next 12 steps: (12,) or (12, k)
    >>> lower, upper = f.predict_interval(coverage=0.8)
    >>> f.predict_quantiles()                      # (12, 3) for quantiles (0.1, 0.5, 0.9)
    >>> f.evaluate(y_longer, start=len(y))         # rolling origin: MASE, sMAPE, coverage
    >>> f.save("airline.safetensors"); Forecaster.load("airline.safetensors")

fit keeps the series it was given (``y_``, ``X_``) and forecasts the steps after it;
pass ``y=`` (and ``X=``) to forecast after another series (after ``load``, which keeps
no series, it is required). The last ``dev_fraction`` of the series (in time order,
never shuffled) is held out for early stopping. Exogenous inputs X are (T, e) aligned
with y; ``X_future`` gives their values for the model's whole horizon after the series.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._args import callback_arg, int_arg
from ._estimator import Estimator, c_defaults, fit_args, from_text

__all__ = ["Forecaster"]

#: The C ABI's defaults (lk_forecaster_train_config_default): the one definition.
_D = _native.train_config_default("forecaster")
_d = c_defaults(_D)


def series_arg(name: str, value: Any, min_steps: int = 1) -> Tuple[np.ndarray, bool]:
    """value as a float32 (T, k) array and whether it was 1-D: numbers only, at least
    `min_steps` steps and one channel, every value finite (the message names the step)."""
    a = np.asarray(value)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers (int or float), got dtype {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be (T,) or (T, channels), got shape {a.shape}")
    if a.shape[0] < min_steps or (a.ndim == 2 and a.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {a.shape})" if a.size == 0
                         else f"{name} has {a.shape[0]} steps; at least {min_steps} are needed")
    two_d = a.reshape(a.shape[0], -1)
    with np.errstate(over="ignore"):
        f = np.ascontiguousarray(two_d, dtype=np.float32)
    finite = np.isfinite(f)
    if not finite.all():
        step, channel = np.argwhere(~finite)[0]
        raise ValueError(f"{name} holds {two_d[step, channel]} at step {step}, channel {channel}"
                         + (" (beyond float32's range)" if np.isfinite(two_d[step, channel]) else "")
                         + ": values must be finite")
    return f, a.ndim == 1


class Forecaster(Estimator):
    """An unfitted forecaster (scikit-learn's estimator contract): configure, then
    ``fit``. The arguments are checked by ``fit``.

    Args:
        context: steps of history the recurrent layer reads for each forecast.
        horizon: steps forecast at once (predict's h is at most this).
        cell: "lstm" or "gru".
        hidden_size, num_layers: the recurrent layer's sizes.
        quantiles: ascending levels in (0, 1) including 0.5 (the point forecast is the
            median); the outermost bound the central interval (0.1, 0.9: 80 %).
        scaling: "window" (default): each window scaled by its own context's mean and
            std (follows trends); "global": by the training part's.
        linear_context: the head also reads the scaled context values (a linear
            autoregressive path beside the LSTM).
        season: the seasonal period for MASE (1: non-seasonal).
        bptt_length: 0 (the default) trains on independent windows;
            else truncated BPTT: the series is read in consecutive chunks of this many
            steps with the recurrent state carried across them, and forecasts warm the
            state over the whole history (docs/FORECASTING.md).
        seed: initialisation and shuffling of the training windows.
        **loop: the training loop's settings, as every model's (None: the default):
            schedule, average_decay, time_limit, checkpoint, resume (see Estimator).
    """

    _C_DEFAULTS = _D
    _LOAD, _TRAIN = _native.forecaster_load, _native.forecaster_train
    _estimator_type = "forecaster"

    def __init__(
        self,
        context: int = _d("context"),
        horizon: int = _d("horizon"),
        cell: str = _d("cell"),
        hidden_size: int = _d("hidden_size"),
        num_layers: int = _d("num_layers"),
        quantiles: Sequence[float] = _d("quantiles"),
        scaling: str = _d("scaling"),
        linear_context: bool = _d("linear_context"),
        season: int = _d("season"),
        seed: int = _d("seed"),
        bptt_length: int = _d("bptt_length"),
        **loop: Any,
    ) -> None:
        self._init_params(locals())

    @fit_args(_d, "epochs batch_size learning_rate clip_norm patience decay_factor time_limit threads log_every verbose",
              data=False)
    def fit(self, y: Any, X: Any = None, *, dev_fraction: float = _d("dev_fraction"),
            calibrate_intervals: bool = _d("calibrate_intervals"), **args: Any) -> "Forecaster":
        Y, univariate, Xa = self._series(y, X)
        config = self._train_config(dict(args, dev_fraction=dev_fraction, calibrate_intervals=calibrate_intervals))
        self._set_model(self._TRAIN(Y, Xa, config, callback_arg("verbose", args["verbose"])))
        self._threads = args["threads"]
        self.y_, self.X_, self._univariate = Y, Xa, univariate
        return self

    @staticmethod
    def _series(y: Any, X: Any) -> Tuple[np.ndarray, bool, Optional[np.ndarray]]:
        """(y as float32 (T, k), whether it was 1-D, X as float32 (T', e) with T' >= T or
        None): a series and its exogenous inputs, checked."""
        Y, univariate = series_arg("y", y)
        Xa = None if X is None else series_arg("X", X)[0]
        if Xa is not None and len(Xa) < len(Y):
            raise ValueError(f"X has {len(Xa)} steps; the series has {len(Y)}")
        return Y, univariate, Xa

    # -- forecasting -----------------------------------------------------------------------

    def _run(self, h: Optional[int], X_future: Any, y: Any, X: Any) -> Tuple[np.ndarray, np.ndarray, bool]:
        """(point (h, k), quantiles (h, k, q), whether the series was 1-D) after y (or the
        training series)."""
        model = self._fitted()
        targets, exogenous = model.handle.channels()
        if y is None:
            if not hasattr(self, "y_"):
                raise ValueError("this Forecaster was loaded from a file and keeps no series: pass y= (and X=), the "
                                 "history to forecast from")
            Y, univariate, Xh = self.y_, self._univariate, self.X_
            if X is not None:
                raise ValueError("X without y: pass both, or neither to forecast after the training series")
        else:
            Y, univariate, Xh = self._series(y, X)
        horizon = int(model.handle.config()["horizon"])
        h = horizon if h is None else int_arg("h", h)
        if not 1 <= h <= horizon:
            raise ValueError(f"h must be in [1, {horizon}] (the model's horizon), got {h}")
        if exogenous == 0:
            if X_future is not None or Xh is not None:
                raise ValueError("this model was trained without exogenous inputs: X and X_future must be None")
            full = None
        else:
            if Xh is None or X_future is None:
                raise ValueError(f"this model reads {exogenous} exogenous channel(s): pass X (the history's) and "
                                 f"X_future (the {horizon} steps of the model's horizon)")
            F, _ = series_arg("X_future", X_future)
            if len(F) < horizon:
                raise ValueError(f"X_future has {len(F)} steps; the model reads its whole horizon of {horizon}")
            full = np.concatenate([Xh[: len(Y)], F[:horizon]])
        point, quantiles = model.handle.forecast(Y, full, h)
        return point, quantiles, univariate and targets == 1

    def predict(self, h: Optional[int] = None, X_future: Any = None, *, y: Any = None, X: Any = None) -> np.ndarray:
        """The point forecasts (medians) of the h steps (default: the horizon) after the
        series: float32 (h,) for a 1-D series, else (h, k)."""
        point, _, flat = self._run(h, X_future, y, X)
        return point[:, 0] if flat else point

    def predict_quantiles(self, h: Optional[int] = None, X_future: Any = None, *, quantiles: Optional[Sequence[float]] = None,
                          y: Any = None, X: Any = None) -> np.ndarray:
        """Quantile forecasts: float32 (h, q) for a 1-D series, else (h, k, q), for the
        levels `quantiles` (default: every level the model has; each must be one of
        them). Ascending along the last axis."""
        _, values, flat = self._run(h, X_future, y, X)
        levels = list(self.quantile_levels)
        if quantiles is not None:
            index = []
            for level in quantiles:
                matches = [i for i, m in enumerate(levels) if abs(m - float(level)) < 1e-6]
                if not matches:
                    raise ValueError(f"the model has no quantile {level}: its levels are {levels}")
                index.append(matches[0])
            values = values[..., index]
        return values[:, 0, :] if flat else values

    def predict_interval(self, h: Optional[int] = None, X_future: Any = None, *, coverage: float = 0.8,
                         y: Any = None, X: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """The central prediction interval of `coverage` (its quantiles (1 - coverage)/2
        and (1 + coverage)/2 must be levels of the model): (lower, upper), each shaped as
        predict's."""
        if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0 < coverage < 1:
            raise ValueError(f"coverage must be a float in (0, 1), got {coverage!r}")
        q = self.predict_quantiles(h, X_future, quantiles=[(1 - coverage) / 2, (1 + coverage) / 2], y=y, X=X)
        return q[..., 0], q[..., 1]

    def evaluate(self, y: Any, X: Any = None, *, start: Optional[int] = None, season: Optional[int] = None,
                 stride: int = 1, threads: Optional[int] = None) -> Dict[str, Any]:
        """Rolling-origin evaluation without refitting: forecasts the whole horizon from
        every `stride`-th step from `start` (default: the length of the training series,
        so y continues it) while a horizon fits in y, and scores them against y. A dict:
        mase (seasonal, `season` default the model's; scaled by the seasonal naive's
        error on y before start), smape (percent), coverage and nominal_coverage of the
        central interval, scaled_pinball, windows."""
        model = self._fitted()
        Y, _, Xa = self._series(y, X)
        if start is None:
            if not hasattr(self, "y_"):
                raise ValueError("pass start= (the first forecast step): a loaded Forecaster keeps no training series")
            start = len(self.y_)
        return model.handle.evaluate(Y, Xa, start, 0 if season is None else season, stride, self._predict_threads(threads))

    def score(self, y: Any, X: Any = None) -> float:
        """-MASE of rolling-origin forecasts over y after the training series (higher is
        better, as scikit-learn maximises)."""
        return -float(self.evaluate(y, X)["mase"])

    @property
    def quantile_levels(self) -> Tuple[float, ...]:
        """The fitted model's quantile levels."""
        return from_text(self._fitted().handle.config()["quantiles"], ())

    def _fitted_repr(self) -> str:
        targets, exogenous = self._fitted().handle.channels()
        return f"targets={targets}, exogenous={exogenous}"

    def __getstate__(self) -> Dict[str, Any]:
        state = super().__getstate__()
        if hasattr(self, "y_"):
            state["series"] = (self.y_, self.X_, self._univariate)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        if "series" in state:
            self.y_, self.X_, self._univariate = state["series"]


# The base's shared fit docstring speaks of validation data; a forecaster's dev part is
# the end of its series, so its fit keeps its own.
Forecaster.fit.__doc__ = """Trains on the series y ((T,) or (T, k) targets) with optional exogenous inputs
        X ((T, e), known in advance), early-stopping on rolling-origin forecasts of the
        last dev_fraction of the series; keeps the best epoch's weights. Returns self.
        calibrate_intervals: then scale each quantile level's distance from the median
        so that its share of dev values below it matches the level.

        ValueError for a series too short for context, horizon and the dev part, a NaN
        or infinite value (named by step), an argument out of range (named) or diverged
        training; TypeError for non-numeric data.
        """
