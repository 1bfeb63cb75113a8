"""The estimator contract the task models share (lstmkit/_estimator.py): get_params /
set_params / repr, defaults from the C ABI, the one fit signature, and scikit-learn's
clone, Pipeline, cross_val_score and GridSearchCV (scikit-learn is a test requirement,
never a runtime one)."""

import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit import ImageClassifier, ImageSegmenter, TextClassifier
from lstmkit import SequenceClassifier
from lstmkit import _native
from lstmkit._estimator import LOOP_PARAMS

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
EN = REPO / "Tests" / "Fixtures" / "text" / "en.tsv"
TEXT = dict(embedding_dim=8, hidden_size=8, attention_size=4, min_count=1, seed=3)
IMAGE = dict(hidden_size=8, seed=2)
SEG = dict(hidden_size=4, encoder_channels=(4, 8), seed=1)
MODELS = [TextClassifier, ImageClassifier, ImageSegmenter]
MODELS.append(SequenceClassifier)  # images (N, H, W) read as sequences (N, T, C)


def texts():
    rows = [line.split("\t", 1) for line in EN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r[1] for r in rows][:120], [r[0] for r in rows][:120]


def bands(n, seed, size=8):
    """Images whose class is their bright half (top or bottom), and masks of it."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(n, size, size), dtype=np.uint8)
    y = rng.integers(0, 2, size=n)
    masks = np.zeros((n, size, size), np.int64)
    for i in range(n):
        rows = slice(0, size // 2) if y[i] == 0 else slice(size // 2, size)
        x[i, rows] += 180
        masks[i, rows] = 1
    return x, y, masks


# -- parameters -----------------------------------------------------------------------

@pytest.mark.parametrize("cls, kind", [
    (TextClassifier, "text_classifier"),
    (ImageClassifier, "image_classifier"),
    (ImageSegmenter, "image_segmenter"),
    (SequenceClassifier, "sequence_classifier"),
    (lstmkit.Forecaster, "forecaster"),
])
def test_defaults_are_the_c_abi_defaults(cls, kind):
    """The signatures' defaults are the C default config's fields, which the library
    writes as text by name (numbers, true/false, enum names, lists as "32,64")."""
    c = _native.train_config_default(kind)
    signature = inspect.signature(cls.__init__).parameters
    fit = inspect.signature(cls.fit).parameters
    for name, parameter in list(signature.items())[1:]:
        if parameter.default is inspect.Parameter.empty:
            continue
        value = parameter.default
        if isinstance(value, (str, bool)):
            assert str(value).lower() == c[name], name
        elif isinstance(value, tuple):
            assert [np.float32(v) for v in value] == [np.float32(v) for v in c[name].split(",") if c[name]], name
        else:
            assert type(value)(c[name]) == value, name
    for name in ("epochs", "batch_size", "learning_rate", "patience", "threads"):
        assert np.float32(fit[name].default) == np.float32(c[name]), name
    assert 0.3 in {p.default for p in signature.values()} or cls is not TextClassifier  # not 0.30000001192092896


@pytest.mark.parametrize("cls", MODELS)
def test_get_params_returns_what_was_given(cls):
    given = dict(num_classes=3) if cls is ImageSegmenter else {}
    model = cls(seed=np.uint64(7), **given)
    params = model.get_params()
    own = [n for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self" and p.kind is not p.VAR_KEYWORD]
    assert list(params) == own + [n for n in LOOP_PARAMS if n not in own]  # the loop's: every model's, from the base
    assert type(params["seed"]) is np.uint64  # stored unchanged, as scikit-learn's clone requires


LOOP = dict(schedule="cosine", average_decay=0.5, time_limit=30.0, checkpoint="ckpt", resume=True, cell="lstm")


@pytest.mark.parametrize("cls", MODELS)
def test_every_estimator_takes_the_loop_settings(cls):
    """The loop's settings are constructor arguments of every model (from the Estimator
    base): stored, in get_params / set_params / repr, cloned, None by default, and an
    unknown one is a TypeError."""
    given = dict(num_classes=3) if cls is ImageSegmenter else {}
    plain = cls(**given)
    assert all(plain.get_params()[name] is None for name in LOOP_PARAMS)
    assert "schedule" not in repr(plain)
    model = cls(**given, **LOOP)
    assert {name: model.get_params()[name] for name in LOOP} == LOOP
    assert "schedule='cosine'" in repr(model) and "cell='lstm'" in repr(model)
    assert clone(model).get_params() == model.get_params()
    assert plain.set_params(schedule="plateau", time_limit=5).schedule == "plateau" and plain.time_limit == 5
    with pytest.raises(TypeError, match="unexpected keyword argument 'shedule'"):
        cls(**given, shedule="cosine")


@pytest.mark.parametrize("cls", MODELS)
def test_loop_settings_reach_the_engine(cls):
    """A bad value of each loop setting is refused by the engine, its message naming it,
    whichever model is trained (the settings travel by name, or in the model's struct)."""
    x, y, masks = bands(12, 8)
    given = dict(num_classes=2) if cls is ImageSegmenter else {}
    X, Y = (texts() if cls is TextClassifier else (x, masks if cls is ImageSegmenter else y))
    quiet = dict(progress=False) if cls in (TextClassifier, SequenceClassifier) else dict(verbose=False)
    for setting, message in [(dict(schedule="linear"), r"schedule must be (plateau or cosine|one of)"),
                             (dict(average_decay=1.5), r"average_decay must be in \[0, 1\), got 1.5"),
                             (dict(time_limit=0.5), r"time_limit must be 0 \(no limit\) or at least 1 second"),
                             (dict(cell="rnn"), r"cell must be lstm"),
                             (dict(resume=True), r"resume needs checkpoint_path")]:
        with pytest.raises(ValueError, match=message):
            cls(**given, **setting).fit(X, Y, epochs=1, **quiet)


@pytest.mark.parametrize("cls", MODELS)
def test_set_params_stores_and_fit_checks(cls):
    """scikit-learn's convention: the constructor and set_params store, fit checks (the
    engine's rule, its message naming the argument)."""
    x, y, masks = bands(12, 8)
    given = dict(num_classes=2) if cls is ImageSegmenter else {}
    X, Y = (texts() if cls is TextClassifier else (x, masks if cls is ImageSegmenter else y))
    quiet = dict(progress=False) if cls in (TextClassifier, SequenceClassifier) else dict(verbose=False)
    model = cls(**given)
    assert model.set_params(hidden_size=12) is model and model.hidden_size == 12
    assert model.set_params(hidden_size=0).hidden_size == 0
    with pytest.raises(ValueError, match=r"^hidden_size must be in \[1, \d+\], got 0$"):
        model.fit(X, Y, epochs=1, **quiet)
    assert model._handle is None  # a refused fit leaves the model unfitted
    with pytest.raises(ValueError, match="invalid parameter 'hiden_size'"):
        model.set_params(hiden_size=3)
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        cls(**given, seed="one").fit(X, Y, epochs=1, **quiet)


def test_repr_shows_what_differs_from_the_defaults():
    assert repr(TextClassifier()) == "TextClassifier()"
    assert repr(TextClassifier(hidden_size=8, pooling="mean")) == "TextClassifier(pooling='mean', hidden_size=8)"
    assert repr(ImageSegmenter(3, encoder_channels=[4, 8])) == "ImageSegmenter(num_classes=3, encoder_channels=[4, 8])"


def test_fit_signature_is_shared():
    for cls in MODELS:
        names = list(inspect.signature(cls.fit).parameters)[:5]
        assert names == ["self", "X", "y", "validation_data", "validation_split"], cls


def test_validation_data_and_split_are_exclusive():
    t, y = texts()
    with pytest.raises(ValueError, match="not both"):
        TextClassifier(**TEXT).fit(t, y, (t[:10], y[:10]), validation_split=0.2, epochs=1, progress=False)
    with pytest.warns(DeprecationWarning, match="validation_data"):
        TextClassifier(**TEXT).fit(t, y, dev=(t[:10], y[:10]), epochs=1, progress=False)


def test_load_reports_the_files_hyper_parameters(tmp_path):
    x, y, masks = bands(12, 1)
    seg = ImageSegmenter(2, **SEG).fit(x, masks, epochs=1, verbose=False)
    seg.save(tmp_path / "seg.safetensors")
    back = ImageSegmenter.load(tmp_path / "seg.safetensors")
    # the cell, which no C config struct holds, by name (lk_model_get_setting)
    assert back.get_params() == dict(seg.get_params(), encoder_channels=(4, 8), cell="lstm")

    img = ImageClassifier(kind="cnn", hidden_size=6, conv_channels=[3], pooling="mean", dropout=0.125,
                          bidirectional=False, seed=9).fit(x, y, epochs=1, verbose=False)
    img.save(tmp_path / "img.safetensors")
    back = ImageClassifier.load(tmp_path / "img.safetensors")
    assert back.get_params() == dict(img.get_params(), conv_channels=(3,), cell="lstm")
    assert back.input_shape == img.input_shape == x.shape[1:] + (1,)

    t, labels = texts()
    clf = TextClassifier(**dict(TEXT, pooling="max", bigram_dim=4, min_bigram_count=1, dropout=0.25, max_length=50))
    clf.fit(t, labels, epochs=1, progress=False)
    clf.save(tmp_path / "text.safetensors")
    back = TextClassifier.load(tmp_path / "text.safetensors")
    # tokenization is what training chose; the training-only counts are the defaults
    expected = dict(clf.get_params(), tokenization="words", min_count=2, min_bigram_count=2, cell="lstm")
    assert back.get_params() == expected
    assert np.array_equal(back.predict_proba(t[:5]), clf.predict_proba(t[:5]))


def test_load_reports_the_cell_a_model_was_trained_with(tmp_path):
    """The cell is architecture: a model trained with cell "lstm" given reports it after
    load (no C config struct has the field: the extension reads it by name), so
    clone(loaded).fit trains the same cell; training settings (schedule) are not kept."""
    t, y = texts()
    clf = TextClassifier(**TEXT, cell="lstm", schedule="cosine").fit(t, y, epochs=1, progress=False)
    clf.save(tmp_path / "text.safetensors")
    back = TextClassifier.load(tmp_path / "text.safetensors")
    assert back.cell == "lstm" and back.schedule is None
    assert clone(back).get_params()["cell"] == "lstm"
    handle = back._fitted().handle
    assert handle.setting("hidden_size") == "8" == str(handle.config()["hidden_size"])
    with pytest.raises(KeyError, match="schedule"):
        handle.setting("schedule")


# -- scikit-learn ---------------------------------------------------------------------

def test_clone_gives_an_unfitted_copy_with_the_same_params():
    t, y = texts()
    clf = TextClassifier(**TEXT).fit(t, y, epochs=1, progress=False)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy._handle is None
    img = ImageClassifier(conv_channels=[4, 8], kind="cnn", hidden_size=np.int64(8))
    assert clone(img).get_params() == img.get_params()
    assert is_classifier(clf) and is_classifier(img) and not is_classifier(ImageSegmenter(2))


def test_pipeline_with_a_text_classifier():
    t, y = texts()
    pipe = Pipeline([("lower", FunctionTransformer(lambda xs: [s.lower() for s in xs])),
                     ("clf", TextClassifier(**TEXT))])
    pipe.fit(t, y, clf__epochs=2, clf__progress=False)
    predicted = pipe.predict(["A FINE FILM", "DULL"])
    assert len(predicted) == 2 and set(predicted) <= {"fresh", "rotten"}
    assert 0.0 <= pipe.score(t, y) <= 1.0


def test_cross_val_score_on_an_image_classifier():
    x, y, _ = bands(60, 3)
    scores = cross_val_score(ImageClassifier(**IMAGE), x, y, cv=3,
                             params=dict(epochs=6, learning_rate=0.01, verbose=False))
    assert scores.shape == (3,)
    assert np.mean(scores) > 0.8  # top-or-bottom is easy: it really learned


def test_grid_search_over_a_text_classifier():
    t, y = texts()
    search = GridSearchCV(TextClassifier(**TEXT), {"pooling": ["mean", "max"]}, cv=2)
    search.fit(t, y, epochs=1, progress=False)
    assert search.best_params_["pooling"] in ("mean", "max")
    assert search.best_estimator_.pooling == search.best_params_["pooling"]
    assert len(search.predict(t[:3])) == 3


def test_segmenter_scores_by_mean_iou():
    x, _, masks = bands(16, 4)
    seg = ImageSegmenter(2, **SEG).fit(x, masks, epochs=2, verbose=False)
    assert seg.score(x, masks) == pytest.approx(seg.evaluate(x, masks)["mean_iou"])
    scores = cross_val_score(ImageSegmenter(2, **SEG), x, masks, cv=2, params=dict(epochs=1, verbose=False))
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))


# -- pickling and concurrent fit/predict (one snapshot per call) ------------------------

import copy  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402


@pytest.mark.parametrize("cls", MODELS)
def test_pickle_round_trips_fitted_and_unfitted(cls, tmp_path):
    x, y, masks = bands(16, 5)
    if cls is TextClassifier:
        t, labels = texts()
        model, X, Y, fit = cls(**TEXT), t, labels, dict(epochs=1, progress=False)
    elif cls is ImageClassifier:
        model, X, Y, fit = cls(**IMAGE), x, y, dict(epochs=1, verbose=False)
    elif cls is SequenceClassifier:
        model, X, Y, fit = cls(hidden_size=8), x, y, dict(epochs=1, progress=False)
    else:
        model, X, Y, fit = cls(2, **SEG), x, masks, dict(epochs=1, verbose=False)
    unfitted = pickle.loads(pickle.dumps(model))
    assert unfitted.get_params() == model.get_params() and unfitted._handle is None
    model.fit(X, Y, **fit)
    for back in (pickle.loads(pickle.dumps(model)), copy.copy(model), copy.deepcopy(model)):
        assert back.get_params() == model.get_params()
        assert back._handle is not model._handle  # a copy, not a shared native model
        assert np.array_equal(back.predict_proba(X[:4]), model.predict_proba(X[:4]))
    if cls is ImageClassifier:  # int labels stay ints
        assert pickle.loads(pickle.dumps(model)).classes_.dtype == np.int64


def test_a_pickled_model_predicts_in_another_process():
    x, y, _ = bands(20, 6)
    clf = ImageClassifier(**IMAGE).fit(x, y, epochs=2, verbose=False)
    code = ("import pickle, sys; clf, x = pickle.loads(sys.stdin.buffer.read()); "
            "print(' '.join(map(str, clf.predict(x))))")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((clf, x[:6])), capture_output=True,
                         timeout=120, check=True).stdout.decode().split()
    assert out == [str(v) for v in clf.predict(x[:6])]


def test_fit_racing_predict_never_mixes_two_models():
    t, labels = texts()
    two = TextClassifier(**TEXT).fit(t, labels, epochs=1, progress=False)
    three_labels = [f"{label}-{i % 3}" for i, label in enumerate(labels)]
    first, second = set(labels), set(three_labels)
    errors, stop = [], threading.Event()

    def refit():
        try:
            for _ in range(3):
                two.fit(t, three_labels if _ % 2 == 0 else labels, epochs=1, progress=False, threads=1)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            stop.set()

    def predict():
        while not stop.is_set():
            try:
                got = set(two.predict(t[:20], threads=1))
                if not (got <= first or got <= second):
                    errors.append(AssertionError(f"labels of two models mixed: {sorted(got)}"))
            except Exception as e:
                errors.append(e)

    workers = [threading.Thread(target=predict) for _ in range(3)] + [threading.Thread(target=refit)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not errors, errors[:3]


def test_int_and_str_labels_of_one_text_are_refused():
    # issue 17: [0, 1, '1', 'x'] gave classes_ == ['0', '1', 'x'], merging 1 and '1'
    x, _, _ = bands(8, 7)
    with pytest.raises(ValueError, match=r"y\[1\] is the int 1 and y\[2\] the str '1'"):
        ImageClassifier(**IMAGE).fit(x, [0, 1, "1", "x", 0, 1, "x", 0], epochs=1, verbose=False)
    t, _ = texts()
    with pytest.raises(ValueError, match="one class"):
        TextClassifier(**TEXT).fit(t[:4], [1, "1", "a", "a"], epochs=1, progress=False)
