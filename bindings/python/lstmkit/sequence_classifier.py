"""lstmkit.SequenceClassifier: classification of float sequences (sensor readings,
speech features, the UCR/UEA archive's series) with per-channel z-scoring, a
(Bi)LSTM and pooling, trained by LSTMKit.

    >>> from lstmkit import SequenceClassifier
    >>> clf = SequenceClassifier().fit(X, y)        # X: list of (T_i, C) arrays, or (N, T, C)
    >>> clf.predict(X_test)                         # labels, of y's type
    >>> clf.predict_proba(X_test).shape             # (N, len(clf.classes_))
    >>> clf.evaluate(X_test, y_test)["accuracy"]
    >>> clf.save("vowels.safetensors"); SequenceClassifier.load("vowels.safetensors")

X is a list of sequences, each an array (T_i, C) (or (T_i,) for one channel) of any
length, or one array (N, T, C) (or (N, T)). In an array, trailing steps whose every
channel is NaN end a shorter sequence (the usual padding of ragged data); any other NaN
is an error naming its sequence, step and channel, unless ``mask_missing=True``: NaN
then counts as missing (scaled to 0, the channel's training mean, with a 0/1
missing indicator per channel beside the values).
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._estimator import Classifier, Fitted, c_defaults, fit_args
from ._labels import Label, labels_arg

__all__ = ["SequenceClassifier"]

#: The C ABI's defaults (lk_sequence_classifier_train_config_default): the one definition.
_D = _native.train_config_default("sequence_classifier")
_d = c_defaults(_D)


class SequenceClassifier(Classifier):
    """An unfitted sequence classifier (scikit-learn's estimator contract): configure,
    then ``fit``. The arguments are checked by ``fit``; the defaults are the ones the
    benchmarks chose on dev splits (docs/TIME_SERIES.md).

    Args:
        hidden_size, num_layers: sizes (hidden_size per direction).
        bidirectional: read each sequence both ways (default).
        pooling: "last" (default: the last step's state of each direction), "mean",
            "max", "attention" or "self_attention" (a self-attention block of
            attention_heads heads, then attention).
        attention_size: the attention layer's size (pooling="attention").
        layer_norm: LayerNorm between recurrent layers.
        dropout: between layers and on the pooled features, in [0, 1).
        mask_missing: NaN is missing data rather than an error (see the module).
        patch_length: the recurrent layers read this many consecutive steps side by
            side as one step; 0 (default) chooses ceil(longest training sequence / 32).
        members: networks whose probabilities are averaged (default 3), each trained on
            its own validation split of the training data (or its own seed with
            validation_data), so together they learn from all of it.
        conv_filters: an LSTM-FCN convolutional branch beside the recurrent layers:
            the filters of its blocks (kernels 8, 5, 3; batch norm and ReLU; averaged
            over each sequence's steps): default (32, 64, 32), LSTM-FCN's own is
            (128, 256, 128); () turns it off.
        seed: initialisation, dropout, the batches' order and the validation split.
        **loop: the training loop's settings, as every model's (None: the default):
            cell ("lstm", or "gru" when the library has it), schedule, average_decay,
            time_limit (see Estimator); no checkpoint or resume (the members train in turn).
    """

    _C_DEFAULTS = _D
    _LOAD, _TRAIN = _native.sequence_classifier_load, _native.sequence_classifier_train
    _PAIR, _ITEMS = "sequences, labels", "sequences"

    def __init__(
        self,
        hidden_size: int = _d("hidden_size"),
        num_layers: int = _d("num_layers"),
        bidirectional: bool = _d("bidirectional"),
        pooling: str = _d("pooling"),
        attention_size: int = _d("attention_size"),
        layer_norm: bool = _d("layer_norm"),
        dropout: float = _d("dropout"),
        mask_missing: bool = _d("mask_missing"),
        patch_length: int = _d("patch_length"),
        members: int = _d("members"),
        conv_filters: Tuple[int, ...] = _d("conv_filters"),
        seed: int = _d("seed"),
        attention_heads: int = _d("attention_heads"),
        **loop: Any,
    ) -> None:
        self._init_params(locals())

    @fit_args(_d, "epochs batch_size learning_rate patience decay_factor time_limit threads progress")
    def fit(self, X: Any, y: Sequence[Label], **args: Any) -> "SequenceClassifier":
        """
        Here each member holds out its own ``validation_split`` (default 0.2) of each
        class (stratified, seeded by ``seed`` + its index) instead, and accuracy ties go
        to the lower validation loss; with validation_data the members share it.
        """
        split = args["validation_split"]
        if args["validation_data"] is not None and split is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        args.update(validation_fraction=_d("validation_fraction") if split is None else split, validation_split=None)
        if args["validation_data"] is None:  # the library holds out a stratified share
            args["validation_data"] = ([], [])
        return self._fit(X, y, args)

    def _inputs(self, X: Any, prefix: str = "", model: Optional[Fitted] = None) -> Tuple[np.ndarray, np.ndarray]:
        return sequences_arg(prefix + "X", X, allow_empty=prefix == "validation ")

    def _targets(self, y: Any, X: Tuple[np.ndarray, np.ndarray], prefix: str = "",
                 model: Optional[Fitted] = None) -> Any:
        n = len(X[1])
        return labels_arg(prefix + "y", y, n, f"{n} {prefix}sequences but {{n}} labels")

    def attention(self, X: Any, *, threads: Optional[int] = None) -> List[np.ndarray]:
        """Which steps decided: for each sequence, its attention weights over its own
        steps (float32, summing to 1). ValueError unless the model pools by "attention"
        or "self_attention". Runs with the GIL released."""
        model = self._fitted()
        values, lengths = self._inputs(X, model=model)
        weights = model.handle.attention((values, lengths), self._predict_threads(threads))
        return [weights[i, :n] for i, n in enumerate(lengths)]


def sequences_arg(name: str, X: Any, allow_empty: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """X as the library takes it: values float32 (N, T, C) padded with 0 and lengths int32
    (N,). Errors name the argument and the sequence: a wrong type or dtype (TypeError),
    a different channel count, an empty sequence, a wrong rank (ValueError). NaN and
    infinities are left to the library, which names the sequence, step and channel."""
    if isinstance(X, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be a list of arrays (T, C) or an array (N, T, C), got {type(X).__name__}")
    if isinstance(X, np.ndarray):
        if X.ndim not in (2, 3):
            raise ValueError(f"{name} must be an array (N, T) or (N, T, C), got shape {X.shape}")
        items: List[Any] = list(X)
    else:
        try:
            items = list(X)
        except TypeError:
            raise TypeError(f"{name} must be a list of arrays (T, C) or an array (N, T, C), got {type(X).__name__}") from None
    if not items and not allow_empty:
        raise ValueError(f"{name} holds no sequence")
    seqs: List[np.ndarray] = []
    channels = None
    for i, s in enumerate(items):
        a = np.asarray(s)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{name}[{i}] must hold real numbers, got dtype {a.dtype}")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"{name}[{i}] must be (T, C) or (T,), got shape {a.shape}")
        if channels is None:
            channels = a.shape[1]
        elif a.shape[1] != channels:
            raise ValueError(f"{name}[{i}] has {a.shape[1]} channels, {name}[0] has {channels}")
        a = a.astype(np.float32)
        missing = np.isnan(a).all(axis=1)  # trailing all-NaN steps: padding
        end = len(a) - int(np.argmin(missing[::-1])) if not missing.all() else 0
        if end == 0:
            raise ValueError(f"{name}[{i}] is empty (a sequence needs at least one step)")
        seqs.append(a[:end])
    steps = max((len(s) for s in seqs), default=1)
    values = np.zeros((len(seqs), steps, channels or 1), np.float32)
    for i, s in enumerate(seqs):
        values[i, : len(s)] = s
    return values, np.array([len(s) for s in seqs], np.int32)
