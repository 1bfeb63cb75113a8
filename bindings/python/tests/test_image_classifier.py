"""lstmkit.ImageClassifier and the image side of the command-line tool.

The data are synthetic 8x8 images made here (no downloads, no scikit-learn):
  - quadrants: 4 classes, the class is which quadrant is bright, under heavy noise;
  - bars: 2 classes, a horizontal or a vertical bar at a random place, under noise;
  - fades: sequences of 3 frames that brighten or darken (kind "cnn" with frames).
Each model trains in well under a second; accuracy on held-out images must be far
above chance. The CLI tests also exercise the .npy reader and writer (NumPyFile.swift)
through `lstmkit-cli inspect`, `train-classifier`, `classify` and `eval-classifier`.
"""

from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit import ImageClassifier, ModelFormatError, TextClassifier
from helpers import (CLI, check_callback_exception_propagates, check_load_refuses_lstm_and_missing_files,
                     check_predict_threads, cli, cli_error, needs_cli)

REPO = Path(__file__).resolve().parents[3]
EN = REPO / "Tests" / "Fixtures" / "text" / "en.tsv"
CWS = REPO / "Tests" / "Fixtures" / "cws"

FAST = dict(epochs=8, batch_size=16, learning_rate=0.01, verbose=False)


def quadrants(n, seed, channels=None, dtype=np.uint8):
    """(N, 8, 8[, C]) images whose bright quadrant is the label (0..3), pixels 0..255."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    shape = (n, 8, 8) if channels is None else (n, 8, 8, channels)
    x = rng.normal(90, 45, shape)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, 4 * r:4 * r + 4, 4 * col:4 * col + 4] += 70
    return np.clip(x, 0, 255).astype(dtype), y


def bars(n, seed):
    """(N, 8, 8) float32 images with a horizontal ("h") or vertical ("v") bar."""
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(["h", "v"]), n)
    x = rng.normal(0, 0.6, (n, 8, 8)).astype(np.float32)
    for i, c in enumerate(y):
        k = rng.integers(0, 8)
        if c == "h":
            x[i, k, :] += 1.5
        else:
            x[i, :, k] += 1.5
    return x, y


def fades(n, seed):
    """(N, 3, 8, 8, 1) frame sequences that brighten (1) or darken (0)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = rng.normal(0, 1, (n, 3, 8, 8, 1)).astype(np.float32)
    steps = np.array([-1.0, 0.0, 1.0], np.float32).reshape(1, 3, 1, 1, 1)
    return base + np.where(y == 1, 1, -1).reshape(n, 1, 1, 1, 1) * steps, y


@pytest.fixture(scope="module")
def quad():
    x, y = quadrants(480, 1)
    xt, yt = quadrants(200, 2)
    lines = []
    clf = ImageClassifier(kind="rows", hidden_size=24, seed=2).fit(
        x, y, validation_data=(xt[:100], yt[:100]), **dict(FAST, verbose=lines.append))
    return clf, lines, (x, y), (xt[100:], yt[100:])


@pytest.fixture
def clf(quad):
    return quad[0]


# -- training and prediction ------------------------------------------------------------

def test_rows_learns_quadrants(quad):
    clf, lines, _, (xt, yt) = quad
    assert clf.evaluate(xt, yt)["accuracy"] > 0.8  # chance: 0.25
    assert lines and any("epoch 1" in line for line in lines)
    assert clf.kind == "rows" and clf.input_shape == (8, 8, 1)


def test_int_labels_give_int_arrays(clf, quad):
    xt = quad[3][0]
    assert clf.labels == ["0", "1", "2", "3"]
    assert clf.classes_.dtype == np.int64 and clf.classes_.tolist() == [0, 1, 2, 3]
    pred = clf.predict(xt)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.int64 and pred.shape == (100,)
    proba = clf.predict_proba(xt)
    assert proba.shape == (100, 4) and proba.dtype == np.float32 and proba.flags.c_contiguous
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])


def test_input_layouts_agree(clf, quad):
    xt = quad[3][0][:20]
    expected = clf.predict_proba(xt)
    np.testing.assert_array_equal(clf.predict_proba(xt[..., None]), expected)       # (N, H, W, 1)
    np.testing.assert_array_equal(clf.predict_proba(xt.astype(np.float64)), expected)
    np.testing.assert_array_equal(clf.predict_proba(np.asfortranarray(xt)), expected)
    np.testing.assert_array_equal(clf.predict_proba(xt.tolist()), expected)           # nested lists
    alone = np.vstack([clf.predict_proba(xt[i:i + 1]) for i in range(20)])
    np.testing.assert_allclose(alone, expected, rtol=1e-5, atol=1e-6)


def test_string_labels_and_validation_split():
    x, y = bars(300, 3)
    lines = []
    clf = ImageClassifier(hidden_size=16, columns=True).fit(x, y, validation_split=0.2,
                                                           **dict(FAST, verbose=lines.append))
    assert clf.labels == ["h", "v"] and clf.classes_.tolist() == ["h", "v"]
    assert any("240 examples" in line and "60 dev" in line for line in lines), lines[:1]
    xt, yt = bars(200, 4)
    pred = clf.predict(xt)
    assert pred.dtype.kind == "U" and set(pred.tolist()) <= {"h", "v"}
    assert np.mean(pred == yt) > 0.85  # chance: 0.5


def test_columns_on_images_taller_than_wide():
    # The column LSTM reads W steps, the row LSTM H: both lengths must be right.
    x, y = bars(200, 3)
    tall = np.concatenate([x, x], axis=1)[:, :, :5]   # (N, 16, 5)
    clf = ImageClassifier(hidden_size=8, columns=True).fit(tall, y, validation_split=0.2, **FAST)
    assert clf.input_shape == (16, 5, 1)
    p = clf.predict_proba(tall[:7])
    assert p.shape == (7, 2) and np.allclose(p.sum(axis=1), 1, atol=1e-5)


def test_cnn_on_colour_images():
    x, y = quadrants(400, 5, channels=3)
    xd, yd = quadrants(100, 6, channels=3)
    xt, yt = quadrants(200, 17, channels=3)
    clf = ImageClassifier(kind="cnn", hidden_size=16, conv_channels=[8]).fit(x, y, validation_data=(xd, yd), **FAST)
    assert clf.kind == "cnn" and clf.input_shape == (8, 8, 3)
    assert clf.evaluate(xt, yt)["accuracy"] > 0.7
    with pytest.raises(ValueError, match="shape"):
        clf.predict(xt[..., 0])  # (N, H, W) only for one channel


def test_cnn_on_frame_sequences(tmp_path):
    x, y = fades(300, 7)
    xd, yd = fades(100, 8)
    xt, yt = fades(100, 18)
    clf = ImageClassifier(kind="cnn", hidden_size=16, conv_channels=[4, 4]).fit(x, y, validation_data=(xd, yd), **FAST)
    assert clf.input_shape == (3, 8, 8, 1)
    assert clf.evaluate(xt, yt)["accuracy"] > 0.8
    with pytest.raises(ValueError, match="shape"):
        clf.predict(xt[:, 0])
    path = tmp_path / "frames.safetensors"
    clf.save(path)
    np.testing.assert_array_equal(ImageClassifier.load(path).predict_proba(xt), clf.predict_proba(xt))


def test_evaluate(clf, quad):
    xt, yt = quad[3]
    result = clf.evaluate(xt, yt)
    assert set(result) == {"accuracy", "macro_f1", "confusion", "labels"}
    assert result["labels"] == [0, 1, 2, 3]
    assert result["confusion"].shape == (4, 4) and result["confusion"].dtype == np.int64
    assert result["confusion"].sum() == 100
    pred = clf.predict(xt)
    assert result["accuracy"] == pytest.approx(np.mean(pred == yt))
    assert np.trace(result["confusion"]) == np.sum(pred == yt)
    assert 0.0 <= result["macro_f1"] <= 1.0
    assert clf.evaluate(xt, [str(v) for v in yt])["accuracy"] == result["accuracy"]
    with pytest.raises(ValueError, match="7"):
        clf.evaluate(xt[:2], [0, 7])
    with pytest.raises(ValueError, match="2 images but y holds 3"):
        clf.evaluate(xt[:2], [0, 1, 2])


def test_save_load_round_trip(clf, quad, tmp_path):
    xt = quad[3][0]
    path = tmp_path / "quad.safetensors"
    clf.save(path)
    back = ImageClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(xt), clf.predict_proba(xt))
    assert back.classes_.dtype == np.int64 and back.classes_.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(back.predict(xt), clf.predict(xt))
    assert back.kind == "rows" and back.input_shape == (8, 8, 1)
    back2 = ImageClassifier.load(str(path))
    np.testing.assert_array_equal(back2.predict_proba(xt[:5]), clf.predict_proba(xt[:5]))


def test_threads(clf, quad):
    xt = quad[3][0]
    check_predict_threads(clf.predict_proba, xt)


def test_verbose_prints(capsys):
    x, y = bars(60, 9)
    ImageClassifier(hidden_size=4).fit(x, y, **dict(FAST, epochs=1, verbose=True))
    assert "epoch 1" in capsys.readouterr().out


def test_progress_exception_propagates():
    x, y = bars(60, 9)

    check_callback_exception_propagates(
        lambda callback: ImageClassifier(hidden_size=4).fit(x, y, **dict(FAST, epochs=1, verbose=callback)))


# -- bad input --------------------------------------------------------------------------

def test_bad_constructor_args_are_refused_at_fit():
    """Arguments are stored as given (scikit-learn's convention) and checked by fit, by the
    engine's rules: the message names the argument."""
    x, y = bars(40, 10)
    for kwargs, error, match in [
        (dict(kind="mlp"), ValueError, "kind"),
        (dict(pooling="sum"), ValueError, "pooling"),
        (dict(hidden_size=0), ValueError, r"^hidden_size must be in \[1, 4096\], got 0$"),
        (dict(kind="cnn", columns=True), ValueError, "columns"),
        (dict(kind="cnn", conv_channels=[]), ValueError, "conv_channels"),
        (dict(kind="cnn", conv_channels=[8, 0]), ValueError, r"conv_channels\[1\]"),
        (dict(kind="cnn", conv_channels=8), TypeError, "conv_channels"),
        (dict(dropout=float("nan")), ValueError, "dropout"),
        (dict(bidirectional=1), TypeError, "bidirectional"),
        (dict(hidden_size="8"), TypeError, "hidden_size must be an int, got str"),
    ]:
        clf = ImageClassifier(**kwargs)
        assert clf.get_params().items() >= kwargs.items()  # stored as given
        with pytest.raises(error, match=match):
            clf.fit(x, y, **dict(FAST, epochs=1))


def test_bad_fit_input():
    x, y = bars(40, 10)
    clf = ImageClassifier(hidden_size=4)
    fit = dict(FAST, epochs=1)
    with pytest.raises(ValueError, match="single class"):
        clf.fit(x, ["h"] * 40, **fit)
    with pytest.raises(ValueError, match="40 images but y holds 39"):
        clf.fit(x, y[:-1], **fit)
    with pytest.raises(ValueError, match="no images"):
        clf.fit(x[:0], y[:0], **fit)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        clf.fit(x[:, 0], y, **fit)
    with pytest.raises(TypeError, match="dtype"):
        clf.fit(np.full((4, 8, 8), "a"), [0, 1, 0, 1], **fit)
    bad = x.copy()
    bad[7, 3, 2] = np.nan
    with pytest.raises(ValueError, match=r"X\[7\] holds a NaN pixel"):
        clf.fit(bad, y, **fit)
    bad[7, 3, 2] = np.inf
    with pytest.raises(ValueError, match=r"X\[7\] holds an infinite pixel"):
        clf.fit(bad, y, validation_data=(x, y), **fit)
    with pytest.raises(ValueError, match=r"validation X\[0\]"):
        clf.fit(x, y, validation_data=(bad[7:], y[7:]), **fit)
    with pytest.raises(ValueError, match="validation images"):
        clf.fit(x, y, validation_data=(x[:, :4, :4], y), **fit)
    with pytest.raises(ValueError, match="do not occur"):
        clf.fit(x, y, validation_data=(x[:2], ["h", "diagonal"]), **fit)
    with pytest.raises(TypeError, match=r"y\[0\]"):
        clf.fit(x[:2], [0.5, 1.5], **fit)
    with pytest.raises(TypeError, match=r"y\[1\]"):
        clf.fit(x[:2], ["h", True], **fit)
    with pytest.raises(ValueError, match="kind='cnn'"):
        clf.fit(x.reshape(40, 1, 8, 8, 1), y, **fit)
    with pytest.raises(ValueError, match="too small"):
        ImageClassifier(kind="cnn", conv_channels=[2, 2, 2, 2]).fit(x, y, **fit)  # 8x8 < 16x16
    for name, value in [("epochs", 0), ("batch_size", 0), ("patience", 0), ("threads", 0), ("log_every", 0)]:
        with pytest.raises(ValueError, match=name):
            clf.fit(x, y, **dict(fit, **{name: value}))
    for name, value in [("learning_rate", -1.0), ("clip_norm", 0.0), ("decay_factor", 1.5), ("time_limit", 0.5),
                        ("time_limit", float("inf")), ("validation_split", 1.0)]:
        with pytest.raises(ValueError, match=name):
            clf.fit(x, y, **dict(fit, **{name: value}))
    with pytest.raises(TypeError, match="verbose"):
        clf.fit(x, y, **dict(fit, verbose=3))
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(x)


def test_bad_predict_input(clf, quad):
    xt = quad[3][0].astype(np.float32)
    with pytest.raises(ValueError, match=r"shape \(3, 8, 8, 1\)"):
        clf.predict_proba(np.zeros((3, 8, 8, 1), np.float32)[:, :7])
    with pytest.raises(ValueError, match=r"got \(3, 8, 8, 2\)"):
        clf.predict_proba(np.zeros((3, 8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="no images"):
        clf.predict(xt[:0])
    bad = xt[:5].copy()
    bad[4, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X\[4\] holds a NaN pixel"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="threads"):
        clf.predict_proba(xt, threads=0)
    with pytest.raises(ValueError, match="float32"):
        clf.predict_proba(np.full((1, 8, 8), 2**40 + 1, np.int64))
    # The handle still works after the errors.
    np.testing.assert_array_equal(clf.predict_proba(xt[:5]), clf.predict_proba(xt[:5]))


def test_wrong_model_kinds(clf, tmp_path):
    image_path = tmp_path / "image.safetensors"
    clf.save(image_path)
    with pytest.raises(ModelFormatError, match="image_classifier") as info:
        TextClassifier.load(image_path)
    assert "text_classifier" in str(info.value)

    texts, labels = zip(*[(line.split("\t", 1)[1], line.split("\t", 1)[0])
                          for line in EN.read_text(encoding="utf-8").splitlines()[:60]])
    text_clf = TextClassifier(embedding_dim=4, hidden_size=4, attention_size=4, min_count=1).fit(
        list(texts), list(labels), epochs=1, progress=False)
    text_path = tmp_path / "text.safetensors"
    text_clf.save(text_path)
    with pytest.raises(ModelFormatError, match="text_classifier") as info:
        ImageClassifier.load(text_path)
    assert "image_classifier" in str(info.value) and isinstance(info.value, ValueError)

    check_load_refuses_lstm_and_missing_files(ImageClassifier, tmp_path)


# -- the command-line tool and .npy files -----------------------------------------------



@needs_cli
def test_cli_train_classify_eval(tmp_path):
    x, y = quadrants(480, 11)
    xd, yd = quadrants(100, 12)
    xt, yt = quadrants(100, 13)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)                      # int64
    np.save(tmp_path / "xd.npy", xd.astype(np.float64))
    (tmp_path / "yd.txt").write_text("".join(f"{v}\n" for v in yd))
    np.save(tmp_path / "xt.npy", xt)
    np.save(tmp_path / "yt.npy", yt.astype(np.int32))
    model = tmp_path / "m.safetensors"
    out = cli("train-classifier", "--kind", "rows", "--train", tmp_path / "x.npy", "--train-labels", tmp_path / "y.npy",
              "--dev", tmp_path / "xd.npy", "--dev-labels", tmp_path / "yd.txt", "--output", model,
              "--hidden-size", 24, "--epochs", 8, "--batch-size", 16, "--learning-rate", 0.01, "--seed", 2).stdout
    assert "epoch 1" in out and "model written" in out

    result = cli("classify", "--model", model, tmp_path / "xt.npy", "--probabilities-npy", tmp_path / "p.npy",
                 "--predictions-npy", tmp_path / "pred.npy").stdout.split()
    loaded = ImageClassifier.load(model)
    p = np.load(tmp_path / "p.npy")
    assert p.dtype == np.float32 and p.shape == (100, 4)
    np.testing.assert_allclose(p, loaded.predict_proba(xt), rtol=1e-5, atol=1e-6)
    pred = np.load(tmp_path / "pred.npy")
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(pred, loaded.predict(xt))
    assert result == [str(v) for v in pred]
    assert np.mean(pred == yt) > 0.8

    lines = cli("eval-classifier", tmp_path / "xt.npy", "--labels", tmp_path / "yt.npy", "--model", model).stdout
    assert "100 images" in lines and "accuracy" in lines and "confusion" in lines

    # Errors: one line, exit code 1.
    assert "--train-labels" in cli_error("train-classifier", "--kind", "rows", "--train", tmp_path / "x.npy",
                                         "--dev", tmp_path / "xd.npy", "--dev-labels", tmp_path / "yd.txt",
                                         "--output", tmp_path / "n.safetensors")
    assert "--labels" in cli_error("eval-classifier", tmp_path / "xt.npy", "--model", model)
    np.save(tmp_path / "y99.npy", yt[:99])
    assert "99 labels for 100 images" in cli_error("eval-classifier", tmp_path / "xt.npy", "--labels",
                                                   tmp_path / "y99.npy", "--model", model)
    np.save(tmp_path / "small.npy", xt[:, :7])
    assert "shape" in cli_error("classify", "--model", model, tmp_path / "small.npy")
    bad = xt.astype(np.float32)
    bad[5, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "image 5" in cli_error("classify", "--model", model, tmp_path / "nan.npy")
    np.save(tmp_path / "one.npy", np.zeros(480, np.int64))
    assert "single class" in cli_error("train-classifier", "--kind", "rows", "--train", tmp_path / "x.npy",
                                       "--train-labels", tmp_path / "one.npy", "--dev", tmp_path / "xd.npy",
                                       "--dev-labels", tmp_path / "yd.txt", "--output", tmp_path / "n.safetensors")
    assert "--tokenization" in cli_error("train-classifier", "--kind", "cnn", "--tokenization", "words",
                                         "--train", tmp_path / "x.npy", "--dev", tmp_path / "xd.npy",
                                         "--output", tmp_path / "n.safetensors")
    assert "--conv-channels" in cli_error("train-classifier", "--kind", "rows", "--conv-channels", "8",
                                          "--train", tmp_path / "x.npy", "--train-labels", tmp_path / "y.npy",
                                          "--dev", tmp_path / "xd.npy", "--dev-labels", tmp_path / "yd.txt",
                                          "--output", tmp_path / "n.safetensors")
    lstm_path = tmp_path / "lstm.safetensors"
    lstmkit.LSTM(3, 4).save(lstm_path)
    message = cli_error("classify", "--model", lstm_path, tmp_path / "xt.npy")
    assert '"lstm"' in message and "image_classifier" in message


@needs_cli
def test_cli_cnn_with_string_labels(tmp_path):
    x, y = bars(300, 14)
    xd, yd = bars(100, 15)
    np.save(tmp_path / "x.npy", x[..., None])
    np.save(tmp_path / "y.npy", y)                      # <U1
    np.save(tmp_path / "xd.npy", xd[..., None])
    (tmp_path / "yd.txt").write_text("\n".join(yd))     # no final newline
    model = tmp_path / "c.safetensors"
    cli("train-classifier", "--kind", "cnn", "--conv-channels", "8", "--train", tmp_path / "x.npy",
        "--train-labels", tmp_path / "y.npy", "--dev", tmp_path / "xd.npy", "--dev-labels", tmp_path / "yd.txt",
        "--output", model, "--hidden-size", 16, "--epochs", 6, "--batch-size", 16, "--learning-rate", 0.01,
        "--time-limit", 1)
    back = ImageClassifier.load(model)
    assert back.kind == "cnn" and back.classes_.tolist() == ["h", "v"]
    lines = cli("classify", "--model", model, "--probabilities", tmp_path / "xd.npy").stdout.splitlines()
    assert len(lines) == 100 and lines[0].split("\t")[1].startswith("h=")
    assert np.mean(np.array([line.split("\t")[0] for line in lines]) == yd) > 0.8
    assert "integer class labels" in cli_error("classify", "--model", model, tmp_path / "xd.npy",
                                               "--predictions-npy", tmp_path / "p.npy")


@needs_cli
@pytest.mark.parametrize("dtype", ["|u1", "|i1", "<u2", ">i2", "<i4", ">u4", "<i8", "<u8", "<f2", "<f4", ">f4",
                                   "<f8", ">f8", "|b1"])
def test_npy_reader_dtypes(tmp_path, dtype):
    values = (np.arange(2 * 3 * 4) % 7).reshape(2, 3, 4).astype(dtype)
    np.save(tmp_path / "a.npy", values)
    out = cli("inspect", tmp_path / "a.npy").stdout
    assert "shape (2, 3, 4)" in out and f"('{values.dtype.str}')" in out
    as_float = values.astype(np.float64)
    assert f"min {float(as_float.min())}  max {float(as_float.max())}" in out
    first = " ".join(str(float(v)) for v in as_float.ravel()[:8])
    assert f"first values: {first}" in out


@needs_cli
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_reader_versions(tmp_path, version):
    values = np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)
    with open(tmp_path / "v.npy", "wb") as f:
        np.lib.format.write_array(f, values, version=version)
    out = cli("inspect", tmp_path / "v.npy").stdout
    assert f"format {version[0]}.{version[1]}" in out and "shape (4, 6), dtype float32" in out
    np.save(tmp_path / "s.npy", np.array(["cat", "dög", "bird"]))
    assert '"cat" "dög" "bird"' in cli("inspect", tmp_path / "s.npy").stdout
    np.save(tmp_path / "scalar.npy", np.float32(2.5))
    assert "shape ()" in cli("inspect", tmp_path / "scalar.npy").stdout


@needs_cli
def test_npy_reader_errors(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((3, 4), np.float32)))
    assert "Fortran order" in cli_error("inspect", tmp_path / "f.npy")
    np.save(tmp_path / "c.npy", np.zeros(3, np.complex64))
    assert "unsupported dtype '<c8'" in cli_error("inspect", tmp_path / "c.npy")
    np.save(tmp_path / "r.npy", np.zeros(3, dtype=[("a", "<i4")]))
    assert "structured" in cli_error("inspect", tmp_path / "r.npy")
    np.save(tmp_path / "o.npy", np.array([{}, 1], dtype=object), allow_pickle=True)
    assert "unsupported dtype" in cli_error("inspect", tmp_path / "o.npy")
    np.save(tmp_path / "ok.npy", np.zeros((10, 8, 8), np.float32))
    data = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-5])
    assert "truncated" in cli_error("inspect", tmp_path / "t.npy")
    (tmp_path / "h.npy").write_bytes(data[:40])
    assert "truncated" in cli_error("inspect", tmp_path / "h.npy")
    (tmp_path / "x.npy").write_bytes(data + b"\0\0\0\0")
    assert "holds" in cli_error("inspect", tmp_path / "x.npy")
    (tmp_path / "v9.npy").write_bytes(data[:6] + b"\x09\x00" + data[8:])
    assert "version 9.0" in cli_error("inspect", tmp_path / "v9.npy")
    (tmp_path / "m.npy").write_bytes(b"NUMPY" + data)
    # Not .npy and not a model file either: the model reader speaks for inspect...
    cli_error("inspect", tmp_path / "m.npy")
    # ... and classify names the .npy magic.
    x, y = bars(40, 16)
    model = tmp_path / "b.safetensors"
    ImageClassifier(hidden_size=4).fit(x, y, **dict(FAST, epochs=1)).save(model)
    assert "does not start with" in cli_error("classify", "--model", model, tmp_path / "m.npy")
    np.save(tmp_path / "flat.npy", np.zeros(64, np.float32))
    assert "(64,)" in cli_error("classify", "--model", model, tmp_path / "flat.npy")
    np.save(tmp_path / "lab.npy", np.array([0.5, 1.0, 2.0]))
    np.save(tmp_path / "three.npy", x[:3])
    assert "whole numbers" in cli_error("eval-classifier", tmp_path / "three.npy", "--labels", tmp_path / "lab.npy",
                                        "--model", model)
    np.save(tmp_path / "lab2.npy", np.zeros((3, 2), np.int64))
    assert "(N,)" in cli_error("eval-classifier", tmp_path / "three.npy", "--labels", tmp_path / "lab2.npy",
                               "--model", model)
