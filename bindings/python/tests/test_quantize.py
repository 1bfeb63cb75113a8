"""int8 quantization through the Python package (docs/QUANTIZATION.md): quantize() on
every estimator and on LSTM/GRU; outputs near float32's, int8 files that load back to
the same outputs, quantizing twice refused, bad files refused."""
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from helpers import cli, cli_error, needs_cli

GOLDEN = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "golden"
EXPECTED = np.load(GOLDEN / "expected.npz")
OUT = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))["outputs"]


def _outputs(model, name):
    """Float outputs of a golden model on its golden inputs."""
    if isinstance(model, lstmkit.Tokenizer):
        return None
    if isinstance(model, lstmkit.TextClassifier):
        return model.predict_proba(OUT[f"{name}_texts"], threads=1)
    if isinstance(model, lstmkit.ImageClassifier):
        return model.predict_proba(EXPECTED["image_x"], threads=1)
    if isinstance(model, lstmkit.ImageSegmenter):
        return model.predict_proba(EXPECTED["segmenter_x"], threads=1)
    expected = np.load(GOLDEN / name / "expected.npz")
    if isinstance(model, lstmkit.SequenceClassifier):
        return model.predict_proba(expected["x"], threads=1)
    return model.predict_quantiles(X_future=expected["x_future"], y=expected["y"], X=expected["x"])


MODELS = [
    (lstmkit.Tokenizer, "tokenizer", "tokenizer.safetensors"),
    (lstmkit.Tokenizer, "tokenizer-ensemble", "tokenizer-ensemble.safetensors"),
    (lstmkit.TextClassifier, "text-en", "text-en.safetensors"),
    (lstmkit.TextClassifier, "text-zh-ngrams", "text-zh-ngrams.safetensors"),
    (lstmkit.ImageClassifier, "image-rows", "image-rows.safetensors"),
    (lstmkit.ImageClassifier, "image-cnn", "image-cnn.safetensors"),
    (lstmkit.ImageSegmenter, "segmenter", "segmenter.safetensors"),
    (lstmkit.SequenceClassifier, "sequence-classifier", "sequence-classifier/sequence-classifier.safetensors"),
    (lstmkit.Forecaster, "forecaster", "forecaster/forecaster.safetensors"),
]


@pytest.mark.parametrize("cls,name,file", MODELS, ids=[m[1] for m in MODELS])
def test_every_model(tmp_path, cls, name, file):
    model = cls.load(GOLDEN / file)
    before = _outputs(model, name)
    assert model.quantize() is model
    after = _outputs(model, name)
    if before is not None:
        err = np.max(np.abs(np.asarray(before, np.float64) - np.asarray(after, np.float64)))
        assert 0 < err < (0.1 if cls is lstmkit.Forecaster else 0.05), err
    else:
        texts = OUT["tokenizer_texts"]
        assert len(model.cut_many(texts[:3], threads=1)) == 3
    with pytest.raises(ValueError, match="already int8-quantized"):
        model.quantize()
    path = tmp_path / "int8.safetensors"
    model.save(path)
    assert path.stat().st_size < (GOLDEN / file).stat().st_size
    loaded = cls.load(path)
    if before is not None:
        assert np.array_equal(_outputs(loaded, name), after)
    with pytest.raises(ValueError, match="already int8-quantized"):
        loaded.quantize()
    clone = pickle.loads(pickle.dumps(loaded))
    with pytest.raises(ValueError, match="already int8-quantized"):
        clone.quantize()


def test_unfitted_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        lstmkit.TextClassifier().quantize()


def _set_scale(path, name, value):
    """Rewrites the first value of tensor `name` in a safetensors file in place."""
    data = bytearray(path.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    begin = header[name]["data_offsets"][0]
    data[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU])
def test_recurrent_layers(tmp_path, cls):
    layer = cls(5, 16, num_layers=2, bidirectional=True, seed=3)
    x = np.random.default_rng(1).uniform(-1, 1, (3, 7, 5)).astype(np.float32)
    y32 = layer(x, lengths=[7, 4, 6])[0]
    names = layer.param_names()
    assert layer.quantize() is layer
    y8 = layer(x, lengths=[7, 4, 6])[0]
    assert 0 < np.max(np.abs(y8 - y32)) < 0.02
    assert set(layer.param_names()) == set(names) | {n + "_scale" for n in names if n.startswith("weight")}
    with pytest.raises(ValueError, match="already int8-quantized"):
        layer.quantize()
    path = tmp_path / "int8.safetensors"
    layer.save(path)
    loaded = cls.load(path)
    assert np.array_equal(loaded(x, lengths=[7, 4, 6])[0], y8)
    assert np.array_equal(pickle.loads(pickle.dumps(loaded))(x, lengths=[7, 4, 6])[0], y8)
    for bad in (float("nan"), 0.0):
        _set_scale(path, "weight_hh_l1_reverse_scale", bad)
        with pytest.raises(lstmkit.ModelFormatError, match="weight_hh_l1_reverse_scale"):
            cls.load(path)


@needs_cli
@pytest.mark.parametrize("cls,name,file", MODELS[::2] + [(lstmkit.LSTM, "lstm", "lstm.safetensors"),
                                                       (lstmkit.Seq2Seq, "seq2seq", "seq2seq/seq2seq.safetensors")],
                         ids=[m[1] for m in MODELS[::2]] + ["lstm", "seq2seq"])
def test_cli(tmp_path, cls, name, file):
    out = tmp_path / "int8.safetensors"
    line = cli("quantize", GOLDEN / file, out).stdout
    assert "int8" in line and out.stat().st_size < (GOLDEN / file).stat().st_size
    assert cls.load(out) is not None
    assert "already int8-quantized" in cli_error("quantize", out, tmp_path / "again.safetensors")
    assert "exists" in cli_error("quantize", GOLDEN / file, out)
    cli("quantize", GOLDEN / file, out, "--force")
    _set_scale(out, next(k for k in _names(out) if k.endswith("_scale")), 0.0)
    assert "int8 scales must be finite and positive" in cli_error("quantize", out, tmp_path / "bad.safetensors")


def _names(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return [k for k in json.loads(data[8:8 + n]) if k != "__metadata__"]


@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU])
def test_bad_int8_values_set_in_memory_refused(cls):
    """load_state_dict refuses a scale of 0 or below and an int8 value that is no integer in
    [-128, 127] (lk_*_set_param), all or nothing: the layer is left as it was."""
    layer = cls(5, 8, seed=1).quantize()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 4, 5)).astype(np.float32)
    y = layer(x)[0]
    state = layer.state_dict()
    for name, value in (("weight_ih_l0_scale", 0.0), ("weight_ih_l0_scale", -1.0),
                        ("weight_hh_l0", 200.0), ("weight_hh_l0", 0.5)):
        bad = {k: v.copy() for k, v in state.items()}
        bad[name].flat[3] = value
        with pytest.raises(ValueError, match=name):
            layer.load_state_dict(bad)
    assert np.array_equal(layer(x)[0], y)
