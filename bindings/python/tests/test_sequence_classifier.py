"""lstmkit.SequenceClassifier: fit on ragged float sequences, predict, attention,
save/load, the scikit-learn contract, and bad input through every check."""

import pickle

import numpy as np
import pytest

from lstmkit import ModelFormatError, SequenceClassifier, _native

from helpers import cli, cli_error, needs_cli


def toy(n, seed, channels=2):
    """Ragged (T_i, C) sequences whose class is whether channel 0 rises ("up") or falls."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        t = int(rng.integers(5, 13))
        ramp = np.arange(t, dtype=np.float32) * 0.5
        s = rng.uniform(-0.4, 0.4, size=(t, channels)).astype(np.float32)
        s[:, 0] += ramp if i % 2 == 0 else ramp[::-1]
        X.append(s)
        y.append("up" if i % 2 == 0 else "down")
    return X, y


SMALL = dict(hidden_size=8)
FIT = dict(epochs=25, threads=1, progress=False)


@pytest.fixture(scope="module")
def fitted():
    X, y = toy(60, 1)
    return SequenceClassifier(pooling="attention", **SMALL).fit(X, y, **FIT)


def test_defaults_are_the_c_abi_defaults():
    d = _native.train_config_default("sequence_classifier")
    clf = SequenceClassifier()
    assert (clf.hidden_size, clf.num_layers, clf.pooling, clf.cell) == (int(d["hidden_size"]), int(d["num_layers"]), "last", None)
    assert clf.bidirectional is True and clf.mask_missing is False


def test_learns_and_predicts(fitted):
    X, y = toy(40, 9)
    assert fitted.classes_ == ["down", "up"]
    assert fitted.evaluate(X, y)["accuracy"] >= 0.9
    p = fitted.predict_proba(X)
    assert p.shape == (40, 2) and p.dtype == np.float32 and np.allclose(p.sum(1), 1, atol=1e-5)
    assert fitted.predict(X[:3]) == [fitted.classes_[j] for j in p[:3].argmax(1)]
    # A padded array with trailing all-NaN steps is the same input as the list.
    padded = np.full((3, 12, 2), np.nan, np.float32)
    for i, s in enumerate(X[:3]):
        padded[i, : len(s)] = s
    np.testing.assert_allclose(fitted.predict_proba(padded), p[:3], rtol=0, atol=1e-6)  # (other batches: last bits)


def test_attention(fitted):
    X, _ = toy(3, 4)
    weights = fitted.attention(X)
    assert [len(w) for w in weights] == [len(s) for s in X]
    assert all(abs(float(w.sum()) - 1) < 1e-5 for w in weights)


def test_int_labels_and_save_load(fitted, tmp_path):
    X, y = toy(30, 2)
    clf = SequenceClassifier(**SMALL).fit(X, [1 if label == "up" else 0 for label in y], **FIT)
    assert clf.classes_ == [0, 1]
    path = tmp_path / "m.safetensors"
    clf.save(path)
    back = SequenceClassifier.load(path)
    # patch_length as training chose it (0: from the lengths, at most 32 steps here: 1), the file's cell
    assert back.get_params() == dict(clf.get_params(), patch_length=1, cell="lstm") and back.classes_ == [0, 1]
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))
    text_model = tmp_path / "text.safetensors"
    text_model.write_bytes(b"\x08" + bytes(7) + b"{}      ")
    with pytest.raises(ModelFormatError):
        SequenceClassifier.load(text_model)


def test_validation_data_and_split():
    X, y = toy(30, 3)
    dev_X, dev_y = toy(10, 4)
    SequenceClassifier(**SMALL).fit(X, y, (dev_X, dev_y), epochs=2, threads=1, progress=False)
    lines = []
    SequenceClassifier(**SMALL).fit(X, y, validation_split=0.3, epochs=2, threads=1, progress=lines.append)
    assert "training 3 members on 20 sequences each, 10 dev" in lines[0]
    with pytest.raises(ValueError, match="not both"):
        SequenceClassifier().fit(X, y, (dev_X, dev_y), validation_split=0.2)
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        SequenceClassifier().fit(X, y, validation_split=0.9, progress=False)
    with pytest.raises(ValueError, match="do not occur in the training labels"):
        SequenceClassifier().fit(X, y, (dev_X, ["left"] * 10), progress=False)


def test_mask_missing():
    X, y = toy(40, 5)
    X[3][2, 1] = np.nan
    with pytest.raises(ValueError, match=r"sequence 3, step 2, channel 1 is nan"):
        SequenceClassifier(**SMALL).fit(X, y, **FIT)
    clf = SequenceClassifier(mask_missing=True, **SMALL).fit(X, y, epochs=2, threads=1, progress=False)
    assert clf.predict_proba(X[:5]).shape == (5, 2)


def test_bad_input(fitted):
    X, y = toy(10, 6)
    with pytest.raises(ValueError, match=r"X\[1\] has 3 channels, X\[0\] has 2"):
        fitted.predict([X[0], np.zeros((4, 3), np.float32)])
    with pytest.raises(ValueError, match="the model was trained on 2"):
        fitted.predict([np.zeros((4, 3), np.float32)])
    with pytest.raises(ValueError, match=r"X\[1\] is empty"):
        fitted.predict([X[0], np.zeros((0, 2), np.float32)])
    with pytest.raises(ValueError, match=r"sequence 0, step 1, channel 0 is inf"):
        fitted.predict([np.array([[0, 0], [np.inf, 0]], np.float32)])
    with pytest.raises(ValueError, match="X holds no sequence"):
        fitted.predict([])
    with pytest.raises(TypeError, match=r"X\[0\] must hold real numbers, got dtype <U1"):
        fitted.predict([np.array([["a", "b"]])])
    with pytest.raises(TypeError, match="must hold real numbers"):
        fitted.predict(np.zeros((2, 3, 2), np.complex64))
    with pytest.raises(TypeError, match="X must be a list of arrays"):
        fitted.predict("abc")
    with pytest.raises(ValueError, match=r"must be an array \(N, T\) or \(N, T, C\)"):
        fitted.predict(np.zeros(5))
    with pytest.raises(ValueError, match=r"X\[0\] must be \(T, C\) or \(T,\)"):
        fitted.predict([np.zeros((2, 2, 2))])
    with pytest.raises(ValueError, match="10 sequences but 9 labels"):
        SequenceClassifier().fit(X, y[:9])
    with pytest.raises(ValueError, match="single class"):
        SequenceClassifier().fit(X, ["a"] * 10)
    with pytest.raises(ValueError, match="pooling must be last, mean, max, attention or self_attention"):
        SequenceClassifier(pooling="median").fit(X, y)
    with pytest.raises(ValueError, match="cell must be"):
        SequenceClassifier(cell="rnn").fit(X, y)
    with pytest.raises(ValueError, match=r"hidden_size must be in \[1, 4096\], got 0"):
        SequenceClassifier(hidden_size=0).fit(X, y, progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        SequenceClassifier().predict(X)


def test_sklearn_clone_and_cross_val_score():
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    X, y = toy(36, 7)
    clf = SequenceClassifier(hidden_size=6, seed=3)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy is not clf
    scores = cross_val_score(SequenceClassifier(**SMALL), X, y, cv=3,
                             params=dict(epochs=15, threads=1, progress=False))
    assert scores.shape == (3,) and scores.mean() >= 0.8


def test_loop_settings_by_name():
    X, y = toy(30, 8)
    clf = SequenceClassifier(members=1, schedule="cosine", average_decay=0.5, **SMALL)
    assert clf.get_params()["schedule"] == "cosine"
    clf.fit(X, y, epochs=3, threads=1, progress=False)
    with pytest.raises(ValueError, match="takes no checkpoint_path"):
        SequenceClassifier(members=1, checkpoint="/tmp/x.ckpt", **SMALL).fit(X, y, epochs=1, progress=False)


def test_conv_filters(tmp_path):
    """LSTM-FCN's convolutional branch: a constructor argument passed by name (the C
    struct has no field for it), default (32, 64, 32) from the library's default config;
    () turns it off; kept by clone, save/load and pickling; a bad list is the library's
    error."""
    from sklearn.base import clone

    assert SequenceClassifier().conv_filters == (32, 64, 32)
    assert _native.train_config_default("sequence_classifier")["conv_filters"] == "32,64,32"
    X, y = toy(40, 3)
    clf = SequenceClassifier(conv_filters=(8, 16, 8), members=1, **SMALL).fit(X, y, **FIT)
    assert clf.predict_proba(X).shape == (40, 2) and clf.score(X, y) >= 0.9
    assert clone(clf).get_params()["conv_filters"] == (8, 16, 8)
    clf.save(tmp_path / "fcn.safetensors")
    loaded = SequenceClassifier.load(tmp_path / "fcn.safetensors")
    assert loaded.conv_filters == (8, 16, 8)
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), clf.predict_proba(X))
    one = SequenceClassifier(conv_filters=[4], members=1, **SMALL).fit(X, y, epochs=1, threads=1, progress=False)
    one.save(tmp_path / "one.safetensors")
    assert SequenceClassifier.load(tmp_path / "one.safetensors").conv_filters == (4,)
    off = SequenceClassifier(conv_filters=(), members=1, **SMALL).fit(X, y, epochs=1, threads=1, progress=False)
    off.save(tmp_path / "off.safetensors")
    assert SequenceClassifier.load(tmp_path / "off.safetensors").conv_filters == ()
    with pytest.raises(ValueError, match=r"conv_filters\[0\]"):
        SequenceClassifier(conv_filters=(0,), **SMALL).fit(X, y, **FIT)
    with pytest.raises(TypeError):
        SequenceClassifier(conv_filters=8).fit(X, y, **FIT)


@needs_cli
def test_cli_conv_filters(tmp_path):
    X, y = toy(30, 4, channels=1)
    np.save(tmp_path / "x.npy", np.stack([np.pad(s, ((0, 12 - len(s)), (0, 0)), constant_values=np.nan) for s in X]))
    (tmp_path / "y.txt").write_text("\n".join(y) + "\n")
    model = tmp_path / "m.safetensors"
    cli("train-sequence-classifier", "--train", tmp_path / "x.npy", "--train-labels", tmp_path / "y.txt", "--output", model,
        "--conv-filters", "8,16,8", "--epochs", 2, "--members", 1, "--hidden-size", 4, "--threads", 1)
    assert SequenceClassifier.load(model).conv_filters == (8, 16, 8)
    assert "--conv-filters[1] must be in [1, 1024], got 0" in cli_error(
        "train-sequence-classifier", "--train", tmp_path / "x.npy", "--train-labels", tmp_path / "y.txt",
        "--output", tmp_path / "z.safetensors", "--conv-filters", "8,0")


def test_self_attention_pooling(tmp_path):
    """pooling="self_attention": per-step weights, the heads by name, saved and loaded exactly."""
    X, y = toy(30, 2)
    args = dict(SMALL, pooling="self_attention", attention_heads=2, members=1, conv_filters=())
    clf = SequenceClassifier(**args).fit(X, y, **dict(FIT, epochs=3))
    weights = clf.attention(X[:3])
    assert all(len(w) == len(s) and abs(w.sum() - 1) < 1e-5 for w, s in zip(weights, X[:3]))
    clf.save(tmp_path / "self.safetensors")
    loaded = SequenceClassifier.load(tmp_path / "self.safetensors")
    assert (loaded.pooling, loaded.attention_heads) == ("self_attention", 2)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match=r"attention_heads \(3\) must divide the recurrent outputs' width \(16\)"):
        SequenceClassifier(**dict(args, attention_heads=3)).fit(X, y, **FIT)
