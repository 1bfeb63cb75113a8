"""lstmkit.ImageClassifier: image (and frame-sequence) classification with an LSTM over
the rows of an image, or over the feature rows or frames of a small CNN, trained by
LSTMKit.

    >>> from lstmkit import ImageClassifier
    >>> clf = ImageClassifier(kind="rows", hidden_size=64)
    >>> clf.fit(X_train, y_train, epochs=5)         # X: (N, H, W[, C]) uint8 or float
    >>> clf.predict(X_test)                          # array of labels, y's type
    >>> clf.predict_proba(X_test).shape              # (N, len(clf.classes_))
    >>> clf.evaluate(X_test, y_test)["accuracy"]
    >>> clf.save("digits.safetensors"); ImageClassifier.load("digits.safetensors")

Images are NumPy arrays, channels last: (N, H, W) for grey images, (N, H, W, C), or for
kind "cnn" sequences of frames (N, T, H, W, C). Any real dtype is accepted and converted
to float32 (C-contiguous); uint8 pixels stay 0..255. The model normalises pixels with
the mean and standard deviation of the training images, so any scale works, but
predict must be given the scale fit was given (do not train on 0..255 and predict on
0..1).

Labels are strings inside the model. Integer labels are accepted: they are stored as
their decimal strings, and when every training label was an integer (not a bool),
``predict`` returns an int64 array and ``classes_`` is int64; otherwise they are str
arrays. This holds after ``save``/``load`` too when every class label of the loaded
model is the decimal form of an integer.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._estimator import (SEED, Classifier, Fitted, c_value, flag, fraction, int_in, int_sequence, one_of,
                         split_validation, validation_pair, validation_split_arg)
from ._labels import labels_arg, score
from .tokenizer import _float_value, _int_arg, _learning_rate, _print_line

__all__ = ["ImageClassifier"]

_KINDS = {"rows": 0, "cnn": 1}
_POOLING = {"last": 0, "mean": 1, "max": 2, "attention": 3}

#: The C ABI's defaults (lk_image_classifier_train_config_default): the one definition.
_D = _native.image_classifier_train_config_default()


def _images_arg(name: str, value: Any, frames: bool = True) -> np.ndarray:
    """value as an array of images (N, H, W), (N, H, W, C) or, with `frames`,
    (N, T, H, W, C), with at least one image and no empty dimension. The native layer
    converts it to float32 (C-contiguous) and names values float32 cannot hold."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a NumPy array of images, got {type(value).__name__}: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers (it is converted to float32), got dtype {arr.dtype}")
    if frames and arr.ndim not in (3, 4, 5):
        raise ValueError(f"{name} must have shape (N, H, W), (N, H, W, C) or (N, T, H, W, C), got {arr.shape}")
    if not frames and arr.ndim not in (3, 4):
        raise ValueError(f"{name} must have shape (N, H, W) or (N, H, W, C), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {arr.shape})")
    if min(arr.shape[1:]) == 0:
        raise ValueError(f"{name} has an empty dimension: shape {arr.shape}")
    return arr


def _check_finite(name: str, X: np.ndarray) -> None:
    """ValueError naming the first image of X that holds a NaN or infinite pixel."""
    if X.dtype.kind != "f":
        return
    finite = np.isfinite(X.reshape(X.shape[0], -1))
    if not finite.all():
        flat = int(np.argmin(finite.ravel()))
        i, j = divmod(flat, finite.shape[1])
        value = X.reshape(X.shape[0], -1)[i, j]
        raise ValueError(f"{name}[{i}] holds a{' NaN' if np.isnan(value) else 'n infinite'} pixel "
                         f"(at flat index {j} of that image); pixels must be finite")


def _verbose_callback(verbose: Any) -> Optional[Callable[[str], Any]]:
    if verbose is True:
        return _print_line
    if verbose is False or verbose is None:
        return None
    if callable(verbose):
        return verbose
    raise TypeError(f"verbose must be a bool or a callable, got {type(verbose).__name__}")


def _time_limit(value: Any) -> float:
    """fit's time_limit in seconds: None (0, no limit) or at least 1."""
    if value is None:
        return 0.0
    limit = _float_value("time_limit", value)
    if not (math.isfinite(limit) and limit >= 1):
        raise ValueError(f"time_limit must be None or at least 1 (seconds), got {value}")
    return limit


def _positive_float(name: str, value: Any) -> float:
    value = _float_value(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


class ImageClassifier(Classifier):
    """An unfitted image classifier (scikit-learn's estimator contract): configure, then
    ``fit``.

    Args:
        kind: "rows" (default): the image's rows are the LSTM's time steps; "cnn": conv
            blocks (3x3 conv, ReLU, 2x2 max-pool) first, then the rows of the feature
            map, or for (N, T, H, W, C) input each frame's feature map, are the steps.
        hidden_size, num_layers: LSTM sizes (hidden_size per direction).
        bidirectional: a BiLSTM (default) or a forward LSTM.
        columns: kind "rows" only: a second LSTM also reads the columns.
        conv_channels: kind "cnn": output channels of each conv block (1 to 8 blocks);
            H and W must be at least 2**len(conv_channels).
        pooling: "last" (default), "mean", "max" or "attention" over the LSTM's steps.
        attention_size: the attention layer's size (pooling="attention").
        dropout: on the pooled features, in [0, 1).
        seed: initialisation, dropout, shuffling and the validation split.
    """

    _C_DEFAULTS = _D
    _LOAD = _native.image_classifier_load
    _PARAMS = {
        "kind": one_of(_KINDS),
        "hidden_size": int_in(1, 4096),
        "num_layers": int_in(1, 16),
        "bidirectional": flag,
        "columns": flag,
        "conv_channels": int_sequence(1, 4096, 8),
        "pooling": one_of(_POOLING),
        "attention_size": int_in(1, 4096),
        "dropout": fraction,
        "seed": SEED,
    }

    def __init__(
        self,
        kind: str = c_value(_D, "kind", _PARAMS),
        hidden_size: int = c_value(_D, "hidden_size", _PARAMS),
        num_layers: int = c_value(_D, "num_layers", _PARAMS),
        bidirectional: bool = c_value(_D, "bidirectional", _PARAMS),
        columns: bool = c_value(_D, "columns", _PARAMS),
        conv_channels: Sequence[int] = c_value(_D, "conv_channels", _PARAMS),
        pooling: str = c_value(_D, "pooling", _PARAMS),
        attention_size: int = c_value(_D, "attention_size", _PARAMS),
        dropout: float = c_value(_D, "dropout", _PARAMS),
        seed: int = c_value(_D, "seed", _PARAMS),
    ) -> None:
        self._init_params(locals())

    def _check_together(self, params: Dict[str, Any]) -> None:
        if params["columns"] and params["kind"] != "rows":
            raise ValueError("columns=True applies to kind='rows' only")

    # -- fitting -----------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        validation_data: Optional[Tuple[Any, Any]] = None,
        *,
        validation_split: Optional[float] = None,
        epochs: int = c_value(_D, "epochs"),
        batch_size: int = c_value(_D, "batch_size"),
        learning_rate: float = c_value(_D, "learning_rate"),
        clip_norm: float = c_value(_D, "clip_norm"),
        patience: int = c_value(_D, "patience"),
        decay_factor: float = c_value(_D, "decay_factor"),
        time_limit: Optional[float] = None,
        threads: int = c_value(_D, "threads"),
        log_every: int = c_value(_D, "log_every"),
        verbose: Union[bool, Callable[[str], Any]] = True,
    ) -> "ImageClassifier":
        """Trains on (X, y), early-stopping on the accuracy on validation data, and
        keeps the weights of the best epoch. Returns self.

        validation_data: an (X_val, y_val) pair; without it the last
        ``validation_split`` (default 0.1) of a shuffle (seeded by ``seed``) of the
        training data is held out (held-out images whose label is left without a
        training example are dropped from it). The pixel mean and std come from the
        training images. time_limit: seconds (>= 1); no epoch starts after it. After
        an epoch without a better validation accuracy the learning rate is multiplied
        by decay_factor; after ``patience`` such epochs training stops.
        verbose: True prints each progress line, False is silent, a callable receives
        the lines. Training runs with the GIL released.
        ValueError if training diverges (a NaN or infinite loss or gradient): lower
        learning_rate.
        """
        params = self._params()
        X = _images_arg("X", X)
        str_labels, all_int = self._training_labels("y", y, X.shape[0],
                                                    f"X holds {X.shape[0]} images but y holds {{n}} labels")
        _check_finite("X", X)  # before any split, so that the index is the caller's
        if X.ndim == 5 and params["kind"] != "cnn":
            raise ValueError(f"X has shape {X.shape}: sequences of frames (N, T, H, W, C) need kind='cnn'")
        split = validation_split_arg(validation_data, validation_split)
        epochs = _int_arg("epochs", epochs, 1)
        batch_size = _int_arg("batch_size", batch_size, 1, 65536)
        learning_rate = _learning_rate(learning_rate)
        clip_norm = _positive_float("clip_norm", clip_norm)
        patience = _int_arg("patience", patience, 1)
        decay_factor = _positive_float("decay_factor", decay_factor)
        if decay_factor > 1:
            raise ValueError(f"decay_factor must be in (0, 1], got {decay_factor}")
        limit = _time_limit(time_limit)
        threads = _int_arg("threads", threads, 1, 1024)
        log_every = _int_arg("log_every", log_every, 1)
        callback = _verbose_callback(verbose)

        if validation_data is not None:
            dev_X, dev_y = validation_pair(validation_data, "X, y")
            dev_X = _images_arg("validation X", dev_X)
            dev_labels, _ = labels_arg("validation y", dev_y, dev_X.shape[0],
                                       f"validation X holds {dev_X.shape[0]} images but validation y holds {{n}} labels")
            self._check_known(dev_labels, str_labels)
            train_X, train_labels = X, str_labels
        else:
            train, held_out = split_validation(X.shape[0], split, params["seed"], "images", str_labels)
            train_X, train_labels = X[np.array(train)], [str_labels[i] for i in train]
            dev_X, dev_labels = X[np.array(held_out)], [str_labels[i] for i in held_out]

        config = self._c_config(params, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                clip_norm=clip_norm, patience=patience, decay_factor=decay_factor, time_limit=limit,
                                threads=threads, log_every=log_every)
        handle = _native.image_classifier_train(train_X, train_labels, dev_X, dev_labels, config, callback)
        self._set_model(handle, all_int)
        self._threads = threads
        return self

    # -- the fitted model ----------------------------------------------------------------

    @property
    def labels(self) -> List[str]:
        """The class labels as the model keeps them (str), in the column order of
        predict_proba."""
        return list(self._fitted().labels)

    @property
    def classes_(self) -> np.ndarray:
        """The class labels in the column order of predict_proba: int64 when every
        training label was an int, else str."""
        return _classes(self._fitted())

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """The shape of one example: (H, W, C), or (T, H, W, C) for frame sequences."""
        return self._fitted().handle.input_shape()

    def _fitted_repr(self) -> str:
        return f"input_shape={self.input_shape}, classes={self.classes_.tolist()!r}"

    # -- prediction --------------------------------------------------------------------

    def predict_proba(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities, float32 of shape (N, len(classes_)); rows sum to 1.
        X has the shape of the training images ((N, H, W) is accepted for one channel).
        Runs with the GIL released, on up to ``threads`` threads (default: fit's)."""
        return self._fitted().handle.predict_proba(_images_arg("X", X), self._fit_threads(threads))

    def predict(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """The most probable class of each image, as an array of classes_'s dtype."""
        model = self._fitted()
        proba = model.handle.predict_proba(_images_arg("X", X), self._fit_threads(threads))
        return _classes(model)[proba.argmax(axis=1)]

    def evaluate(self, X: Any, y: Any, *, threads: Optional[int] = None) -> Dict[str, Any]:
        """Scores predictions against gold labels: a dict with accuracy, macro_f1 (the
        unweighted mean of per-class F1), confusion (C x C int64 array, rows gold,
        columns predicted, in classes_ order) and labels (classes_ as a list). A label
        the model does not know is a ValueError naming it."""
        model = self._fitted()
        X = _images_arg("X", X)
        gold, _ = labels_arg("y", y, X.shape[0], f"X holds {X.shape[0]} images but y holds {{n}} labels")
        result = score(list(model.labels), gold, model.handle.predict_proba(X, self._fit_threads(threads)))
        result["labels"] = _classes(model).tolist()
        return result


def _classes(model: Fitted) -> np.ndarray:
    """A fitted model's classes as an array: int64 when they come back as ints, else str."""
    if model.int_labels:
        return np.array([int(label) for label in model.labels], dtype=np.int64)
    return np.array(model.labels, dtype=str)
