#!/usr/bin/env python3
"""The forecaster's benchmark (issue 19): Airline (sktime), sunspots and co2 (statsmodels;
co2 as monthly means) split 70/15/15 in time order, never shuffled. Rolling-origin
forecasts of the horizon from every step of the scored part, without refitting; MASE
(seasonal, scaled by the seasonal naive's in-sample error before the scored part), sMAPE
and the coverage of the 80 % interval, averaged over every origin and step.

    LSTMKit      lstmkit.Forecaster with its defaults (context, size, quantiles, window
                 scaling) but the series' horizon and season; fit on train + dev, the dev
                 part (dev_fraction) early-stopping; mean of 3 seeds
    snaive       the seasonal naive; its 80 % interval from the in-sample seasonal
                 differences' spread, widened with the seasons ahead (as R's snaive)
    ETS          statsforecast's AutoETS (season_length = the season)
    AutoARIMA    statsforecast's AutoARIMA (season_length = the season)
    torch LSTM   the same network in PyTorch (LSTM of the same size reading the same
                 window-scaled context, the same linear head and pinball loss, Adam at
                 the same rate), trained for the wall time LSTMKit took on the same seed,
                 keeping the best dev epoch; mean of 3 seeds

The statistical models are fitted once on train + dev and then forecast from each
origin's history with their fitted parameters (statsforecast's forward), as LSTMKit
forecasts from each origin's context without refitting.

    python3 bench/forecast_bench.py            # scores the test part once, writes
                                               # bench/results/forecast.json
    python3 bench/forecast_bench.py --dev      # for choosing defaults: fit on train
                                               # (its last 15 % early-stopping), score dev
Needs lstmkit, numpy, pandas, statsmodels, statsforecast, torch and sktime's data
directory (sktime 1.2.0 installed); the series are cached in data-cache/forecast/.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE = os.path.join(REPO, "data-cache", "forecast")
SEEDS = (1, 2, 3)
Z80 = 1.2815515655446004   # the normal's 0.9 quantile


# -- data ------------------------------------------------------------------------------

def series(name):
    """The series as float64, cached as one number a line."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, name + ".txt")
    if not os.path.exists(path):
        if name == "airline":
            spec = importlib.util.find_spec("sktime")
            csv = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "Airline", "Airline.csv")
            import pandas as pd
            values = pd.read_csv(csv).iloc[:, -1].to_numpy(dtype=float)
        elif name == "sunspots":
            import statsmodels.api as sm
            values = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=float)
        else:   # co2: weekly with gaps -> monthly means, gaps interpolated
            import statsmodels.api as sm
            weekly = sm.datasets.co2.load_pandas().data["co2"]
            values = weekly.resample("MS").mean().interpolate().to_numpy(dtype=float)
        np.savetxt(path, values)
    return np.loadtxt(path)


DATASETS = {   # name: (season, horizon)
    "airline": (12, 12),
    "sunspots": (11, 11),
    "co2": (12, 12),
}


def split(n):
    """The ends of train (70 %) and dev (15 %); test is the rest."""
    return int(round(n * 0.70)), int(round(n * 0.85))


# -- scoring ---------------------------------------------------------------------------

def score(y, start, season, forecasts):
    """forecasts: {origin: (point (h,), lower (h,), upper (h,))}; MASE's scale is the
    seasonal naive's mean absolute error on y[:start]."""
    scale = np.mean(np.abs(y[season:start] - y[:start - season]))
    ase, smape, covered, n = 0.0, 0.0, 0, 0
    for t, (point, lower, upper) in forecasts.items():
        actual = y[t:t + len(point)]
        ase += np.sum(np.abs(actual - point)) / scale
        smape += np.sum(200 * np.abs(actual - point) / np.maximum(np.abs(actual) + np.abs(point), 1e-12))
        covered += int(np.sum((actual >= lower) & (actual <= upper)))
        n += len(point)
    return {"mase": ase / n, "smape": smape / n, "coverage80": covered / n, "windows": len(forecasts)}


def origins(n, start, h):
    return range(start, n - h + 1)


def seasonal_naive(y, start, season, h):
    diffs = y[season:start] - y[:start - season]
    sigma = np.sqrt(np.mean(diffs ** 2))
    out = {}
    for t in origins(len(y), start, h):
        steps = np.arange(h)
        point = y[t - season + steps % season]
        width = Z80 * sigma * np.sqrt(steps // season + 1)
        out[t] = (point, point - width, point + width)
    return out


def statsforecast_model(kind, y, start, season, h):
    from statsforecast.models import AutoARIMA, AutoETS
    model = (AutoETS if kind == "ETS" else AutoARIMA)(season_length=season)
    model.fit(y[:start].astype(np.float64))
    out = {}
    for t in origins(len(y), start, h):
        f = model.forward(y=y[:t].astype(np.float64), h=h, level=[80])
        out[t] = (np.asarray(f["mean"]), np.asarray(f["lo-80"]), np.asarray(f["hi-80"]))
    return out


def lstmkit_model(y, start, season, h, seed, dev_fraction, log, settings=None):
    import lstmkit
    settings = dict(settings or {})
    params = {k: settings.pop(k) for k in list(settings) if k in lstmkit.Forecaster._param_names()}
    began = time.perf_counter()
    f = lstmkit.Forecaster(**dict(dict(horizon=h, season=season, seed=seed), **params))
    f.fit(y[:start], dev_fraction=dev_fraction, verbose=log, **settings)
    seconds = time.perf_counter() - began
    out = {}
    for t in origins(len(y), start, h):
        q = f.predict_quantiles(y=y[:t])
        out[t] = (q[:, 1].astype(np.float64), q[:, 0].astype(np.float64), q[:, 2].astype(np.float64))
    return out, seconds, f


# -- the PyTorch peer: the same network, the same windows and loss --------------------

def torch_model(y, start, season, h, seed, dev_fraction, seconds, like):
    """LSTMKit's forecaster in PyTorch: window scaling, an LSTM over the context, a linear
    head over its last output and the scaled context, pinball loss at 0.1/0.5/0.9; Adam
    at LSTMKit's rate and batch size, clipping at 5; trained for `seconds`, keeping the
    epoch with the best dev pinball loss (dev = the last dev_fraction of y[:start])."""
    import torch
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    cfg = like.get_params()
    context, hidden, quantiles = cfg["context"], cfg["hidden_size"], torch.tensor(cfg["quantiles"])
    std_floor = 0.01 * np.std(y[:start - int(round(start * dev_fraction))])
    dev_start = start - int(round(start * dev_fraction))

    def windows(ts, full):
        xs, ys, locs, scales = [], [], [], []
        for t in ts:
            c = full[t - context:t]
            m, s = c.mean(), max(c.std(), std_floor)
            xs.append((c - m) / s)
            ys.append((full[t:t + h] - m) / s if t + h <= len(full) else np.zeros(h))
            locs.append(m)
            scales.append(s)
        f = lambda a: torch.tensor(np.array(a), dtype=torch.float32)
        return f(xs), f(ys), np.array(locs), np.array(scales)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(1, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden + context, h * len(quantiles))

        def forward(self, x):
            out, _ = self.lstm(x.unsqueeze(-1))
            return self.head(torch.cat([out[:, -1], x], dim=1)).view(len(x), h, len(quantiles))

    def pinball(pred, target):
        e = target.unsqueeze(-1) - pred
        return torch.maximum(quantiles * e, (quantiles - 1) * e).mean()

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    tx, ty, _, _ = windows(range(context, dev_start - h + 1), y[:start])
    dx, dy, _, _ = windows(range(dev_start, start - h + 1), y[:start])
    best, best_state, began = None, None, time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    while time.perf_counter() - began < seconds:
        order = torch.randperm(len(tx), generator=gen)
        for i in range(0, len(tx), 32):
            b = order[i:i + 32]
            opt.zero_grad()
            loss = pinball(net(tx[b]), ty[b])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
        with torch.no_grad():
            dev = float(pinball(net(dx), dy))
        if best is None or dev < best:
            best, best_state = dev, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    ts = list(origins(len(y), start, h))
    x, _, loc, scale = windows(ts, y)
    with torch.no_grad():
        q = net(x).numpy().astype(np.float64)
    q = np.sort(q, axis=2) * scale[:, None, None] + loc[:, None, None]
    return {t: (q[i, :, 1], q[i, :, 0], q[i, :, 2]) for i, t in enumerate(ts)}


def mean_scores(runs):
    return {k: statistics.mean(r[k] for r in runs) for k in runs[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", action="store_true", help="fit on train, score dev (for choosing defaults)")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer (the slowest)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="with --dev: a Forecaster or fit argument other than the default (Python literal)")
    args = ap.parse_args()
    import ast
    import lstmkit
    lstmkit.set_num_threads(1)
    if args.set and not args.dev:
        ap.error("--set is for choosing on dev (--dev); the test part is scored with the defaults")
    settings = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}
    part = "dev" if args.dev else "test"
    results = {"part": part, "settings": settings, "split": "70/15/15 in time order", "seeds": list(SEEDS), "datasets": {}}
    for name in args.datasets.split(","):
        y = series(name)
        season, h = DATASETS[name]
        n70, n85 = split(len(y))
        # Scored part: dev (fit on train) or test (fit on train + dev, dev early-stopping).
        start = n70 if args.dev else n85
        dev_fraction = 0.15 if args.dev else (n85 - n70) / n85
        row = {"steps": len(y), "season": season, "horizon": h, "fit_steps": start, "scored_from": start}
        runs, torch_runs, times = [], [], []
        for seed in SEEDS:
            fc, seconds, model = lstmkit_model(y, start, season, h, seed, dev_fraction, print if args.verbose else False, settings)
            runs.append(score(y, start, season, fc))
            times.append(seconds)
            if not (args.no_peers or args.no_torch):
                torch_runs.append(score(y, start, season, torch_model(y, start, season, h, seed, dev_fraction, seconds, model)))
        row["LSTMKit"] = dict(mean_scores(runs), seconds=statistics.mean(times), per_seed=runs)
        if torch_runs:
            row["torch LSTM"] = dict(mean_scores(torch_runs), per_seed=torch_runs)
        if not args.no_peers:
            row["snaive"] = score(y, start, season, seasonal_naive(y, start, season, h))
            for kind in ("ETS", "AutoARIMA"):
                began = time.perf_counter()
                row[kind] = dict(score(y, start, season, statsforecast_model(kind, y, start, season, h)),
                                 seconds=time.perf_counter() - began)
        results["datasets"][name] = row
        for method in ("LSTMKit", "torch LSTM", "snaive", "ETS", "AutoARIMA"):
            if method in row:
                r = row[method]
                print(f"{name:9s} {part} {method:11s} MASE {r['mase']:.3f}  sMAPE {r['smape']:6.2f}  "
                      f"coverage80 {100 * r['coverage80']:5.1f}%  ({r['windows']} origins)", flush=True)
    results["python"] = sys.version.split()[0]
    results["lstmkit"] = lstmkit.__version__
    if not args.dev:
        with open(os.path.join(HERE, "results", "forecast.json"), "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
