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
0..1). predict takes images of the training shape ((N, H, W) for one channel).

Labels are str or int, as for every classifier (lstmkit.TextClassifier's module says
how ints come back); here ``predict`` and ``classes_`` are int64 or str arrays.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._estimator import Classifier, Fitted, c_defaults, fit_args
from ._labels import labels_arg

__all__ = ["ImageClassifier"]

#: The C ABI's defaults (lk_image_classifier_train_config_default): the one definition.
_D = _native.train_config_default("image_classifier")
_d = c_defaults(_D)


def images_arg(name: str, value: Any, frames: bool) -> np.ndarray:
    """value as an array of images (N, H, W), (N, H, W, C) or, with `frames`,
    (N, T, H, W, C), with at least one image, no empty dimension and finite pixels. The
    extension converts it to float32 (C-contiguous), refusing other dtypes and values
    float32 cannot hold."""
    X = np.asarray(value)
    if X.ndim not in ((3, 4, 5) if frames else (3, 4)):
        shapes = "(N, H, W), (N, H, W, C) or (N, T, H, W, C)" if frames else "(N, H, W) or (N, H, W, C)"
        raise ValueError(f"{name} must have shape {shapes}, got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {X.shape})")
    if min(X.shape[1:]) == 0:
        raise ValueError(f"{name} has an empty dimension: shape {X.shape}")
    if X.dtype.kind == "f":
        finite = np.isfinite(X.reshape(X.shape[0], -1))
        if not finite.all():
            i, j = divmod(int(np.argmin(finite.ravel())), finite.shape[1])
            what = " NaN" if np.isnan(X.reshape(X.shape[0], -1)[i, j]) else "n infinite"
            raise ValueError(f"{name}[{i}] holds a{what} pixel (at flat index {j} of that image); pixels must be finite")
    return X


def example_shape(X: np.ndarray) -> Tuple[int, ...]:
    """One image's shape, channels included: (H, W, C) or (T, H, W, C)."""
    return X.shape[1:] + ((1,) if X.ndim == 3 else ())


def _input_shape(model: Fitted) -> Tuple[int, ...]:
    """The shape of one example a model takes, from its settings: (H, W, C) or (T, H, W, C)."""
    frames, *image = (int(model.handle.setting(name)) for name in ("frames", "height", "width", "channels"))
    return tuple(image) if frames == 0 else (frames, *image)


class ImageClassifier(Classifier):
    """An unfitted image classifier (scikit-learn's estimator contract): configure, then
    ``fit``. The arguments are checked by ``fit``.

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
        **loop: the training loop's settings, as every model's (None: the default):
            schedule, average_decay, time_limit, checkpoint, resume, cell (see Estimator).
    """

    _C_DEFAULTS = _D
    _LOAD, _TRAIN = _native.image_classifier_load, _native.image_classifier_train

    def __init__(
        self,
        kind: str = _d("kind"),
        hidden_size: int = _d("hidden_size"),
        num_layers: int = _d("num_layers"),
        bidirectional: bool = _d("bidirectional"),
        columns: bool = _d("columns"),
        conv_channels: Sequence[int] = _d("conv_channels"),
        pooling: str = _d("pooling"),
        attention_size: int = _d("attention_size"),
        dropout: float = _d("dropout"),
        seed: int = _d("seed"),
        **loop: Any,
    ) -> None:
        self._init_params(locals())

    @fit_args(_d, "epochs batch_size learning_rate clip_norm patience decay_factor time_limit threads log_every verbose")
    def fit(self, X: Any, y: Any, **args: Any) -> "ImageClassifier":
        """
        X: images (N, H, W[, C]) or frame sequences (N, T, H, W, C), y their labels. The
        pixel mean and std come from the training images.
        """
        return self._fit(X, y, args)

    def _inputs(self, X: Any, prefix: str = "", model: Optional[Fitted] = None) -> np.ndarray:
        X = images_arg(prefix + "X", X, frames=True)
        if model is not None and example_shape(X) != _input_shape(model):
            want = _input_shape(model)
            bare = " (or without the last axis)" if want[-1] == 1 and len(want) == 3 else ""
            takes = "sequences of frames (N, T, H, W, C)" if len(want) == 4 else "images (N, H, W, C)"
            raise ValueError(f"X must have shape {(len(X),) + want}{bare}, got {X.shape}: this model takes {takes}")
        if model is None and X.ndim == 5 and self.kind != "cnn":
            raise ValueError(f"{prefix}X has shape {X.shape}: sequences of frames (N, T, H, W, C) need kind='cnn'")
        return X

    def _targets(self, y: Any, X: np.ndarray, prefix: str = "", model: Optional[Fitted] = None) -> Any:
        return labels_arg(prefix + "y", y, len(X), f"{prefix}X holds {len(X)} images but {prefix}y holds {{n}} labels")

    def _check_validation(self, X: np.ndarray, y: List[str], dev_X: np.ndarray, dev_y: List[str]) -> None:
        if example_shape(dev_X) != example_shape(X):
            raise ValueError(f"the validation images are {example_shape(dev_X)} each but the training images are "
                             f"{example_shape(X)}")
        super()._check_validation(X, y, dev_X, dev_y)

    def _classes(self, model: Fitted) -> np.ndarray:
        """The base's classes as an array: int64 when every training label was an int, else str."""
        return np.array(super()._classes(model), dtype=np.int64 if model.int_labels else str)

    @property
    def labels(self) -> List[str]:
        """The class labels as the model keeps them (str), in the column order of
        predict_proba."""
        return list(self._fitted().labels)

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """The shape of one example: (H, W, C), or (T, H, W, C) for frame sequences."""
        return _input_shape(self._fitted())

    def _fitted_repr(self) -> str:
        return f"input_shape={self.input_shape}, {super()._fitted_repr()}"
