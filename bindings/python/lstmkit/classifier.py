"""lstmkit.TextClassifier: text classification with an embedding, a (Bi)LSTM, pooling
and a softmax layer, trained by LSTMKit.

    >>> from lstmkit import TextClassifier
    >>> clf = TextClassifier(embedding_dim=64, hidden_size=64)
    >>> clf.fit(texts, labels, epochs=5)                # labels: str, or all int
    >>> clf.predict(["a fine film"])                    # ['fresh']
    >>> clf.predict_proba(["a fine film"]).shape        # (1, len(clf.classes_))
    >>> clf.evaluate(test_texts, test_labels)["accuracy"]
    >>> clf.attention("A fine film")                    # [('a', 0.31), ('fine', 0.45), ('film', 0.24)]
    >>> clf.save("sentiment.safetensors"); TextClassifier.load("sentiment.safetensors")

Labels are strings inside the model. Integer labels are accepted: they are stored as
their decimal strings, and when every training label was an int (not a bool),
``predict`` and ``classes_`` give ints back. This holds after ``save``/``load`` too
when every class label of the loaded model is the decimal form of an int. Mixed int
and str labels are all treated as str.

Texts are tokenised as characters when the training text is mostly CJK (at least a
tenth of its non-space characters), else as lower-cased words; ``tokenization`` forces
either.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._estimator import (SEED, Classifier, c_value, flag, fraction, int_in, one_of, split_validation,
                         validation_pair, validation_split_arg)
from ._labels import labels_arg, score
from .tokenizer import _int_arg, _learning_rate, _progress_callback

__all__ = ["TextClassifier"]

_POOLING = {"last": 0, "mean": 1, "max": 2, "attention": 3}
_TOKENIZATION = {"auto": 0, "characters": 1, "words": 2}

Label = Union[str, int]

#: The C ABI's defaults (lk_text_classifier_train_config_default): the one definition.
_D = _native.text_classifier_train_config_default()


def _texts_arg(name: str, value: Any) -> List[str]:
    """value as a non-empty list of str."""
    if isinstance(value, str):
        raise TypeError(f"{name} must be a sequence of str, not a str (wrap one text in a list)")
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be a sequence of str, not {type(value).__name__}")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of str, got {type(value).__name__}") from None
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__}")
    if not items:
        raise ValueError(f"{name} is empty")
    return items


class TextClassifier(Classifier):
    """An unfitted text classifier (scikit-learn's estimator contract): configure, then
    ``fit``.

    Args:
        pooling: "attention" (default), "mean", "max" or "last".
        embedding_dim, hidden_size, num_layers: sizes (hidden_size per direction).
        bidirectional: a BiLSTM (default) or a forward LSTM.
        attention_size: the attention layer's size (pooling="attention").
        dropout: on the embeddings and pooled features, in [0, 1).
        max_length: texts keep their first max_length tokens.
        min_count: training tokens rarer than this become "unknown".
        tokenization: "auto", "characters" or "words".
        ngram_order: n-gram features beside the LSTM (0: none): each run of 1 to
            ngram_order tokens seen in at least min_ngram_count training texts holds a
            weight per class, and their mean over a text is added to the logits (a
            linear model over the text's n-grams, trained jointly with the LSTM).
        ngram_dropout: in training each n-gram is left out with this probability.
        min_ngram_count: rarer n-grams are left out.
        seed: initialisation, dropout, shuffling and the validation split.
        bigram_dim: an embedding of token bigrams (a token and its right neighbour)
            beside the tokens' (0: none).
        min_bigram_count: rarer training bigrams are "unknown".
    """

    _C_DEFAULTS = _D
    _LOAD = _native.text_classifier_load
    _PARAMS = {
        "pooling": one_of(_POOLING),
        "embedding_dim": int_in(1, 4096),
        "hidden_size": int_in(1, 4096),
        "num_layers": int_in(1, 16),
        "bidirectional": flag,
        "attention_size": int_in(1, 4096),
        "dropout": fraction,
        "max_length": int_in(1, 1_000_000),
        "min_count": int_in(1),
        "tokenization": one_of(_TOKENIZATION),
        "ngram_order": int_in(0, 8),
        "ngram_dropout": fraction,
        "min_ngram_count": int_in(1),
        "seed": SEED,
        "bigram_dim": int_in(0, 4096),
        "min_bigram_count": int_in(1),
    }
    _takes_arrays = False

    def __init__(
        self,
        pooling: str = c_value(_D, "pooling", _PARAMS),
        embedding_dim: int = c_value(_D, "embedding_dim", _PARAMS),
        hidden_size: int = c_value(_D, "hidden_size", _PARAMS),
        num_layers: int = c_value(_D, "num_layers", _PARAMS),
        bidirectional: bool = c_value(_D, "bidirectional", _PARAMS),
        attention_size: int = c_value(_D, "attention_size", _PARAMS),
        dropout: float = c_value(_D, "dropout", _PARAMS),
        max_length: int = c_value(_D, "max_length", _PARAMS),
        min_count: int = c_value(_D, "min_count", _PARAMS),
        tokenization: str = c_value(_D, "tokenization", _PARAMS),
        ngram_order: int = c_value(_D, "ngram_order", _PARAMS),
        ngram_dropout: float = c_value(_D, "ngram_dropout", _PARAMS),
        min_ngram_count: int = c_value(_D, "min_ngram_count", _PARAMS),
        seed: int = c_value(_D, "seed", _PARAMS),
        bigram_dim: int = c_value(_D, "bigram_dim", _PARAMS),
        min_bigram_count: int = c_value(_D, "min_bigram_count", _PARAMS),
    ) -> None:
        self._init_params(locals())

    # -- fitting -----------------------------------------------------------------------

    def fit(
        self,
        X: Sequence[str],
        y: Sequence[Label],
        validation_data: Optional[Tuple[Sequence[str], Sequence[Label]]] = None,
        *,
        validation_split: Optional[float] = None,
        epochs: int = c_value(_D, "epochs"),
        batch_size: int = c_value(_D, "batch_size"),
        learning_rate: float = c_value(_D, "learning_rate"),
        ngram_learning_rate: float = c_value(_D, "ngram_learning_rate"),
        patience: int = c_value(_D, "patience"),
        balance_classes: bool = bool(_D["balance_classes"]),
        threads: int = c_value(_D, "threads"),
        progress: Union[bool, Callable[[str], Any], None] = True,
        dev: Optional[Tuple[Sequence[str], Sequence[Label]]] = None,
    ) -> "TextClassifier":
        """Trains on (X, y) — texts and their labels — early-stopping on the accuracy on
        validation data, and keeps the weights of the best epoch. Returns self.

        validation_data: a (texts, labels) pair; without it the last
        ``validation_split`` (default 0.1) of a shuffle (seeded by ``seed``) of the
        training data is held out (held-out texts whose label is left without a
        training example are dropped from it). ``dev=`` is the former name of
        validation_data (deprecated).
        ngram_learning_rate: Adam's rate for the n-gram head (with ngram_order > 0),
        which learns beside the LSTM with its own early stopping; the mix of the two
        heads' probabilities is chosen on the validation data.
        progress: True prints each line, False/None is silent, a callable receives them.
        Training runs with the GIL released.
        ValueError if training diverges (a NaN or infinite loss or gradient): lower
        learning_rate.
        """
        if dev is not None:
            warnings.warn("TextClassifier.fit(dev=...) is deprecated: use validation_data=", DeprecationWarning,
                          stacklevel=2)
            if validation_data is not None:
                raise ValueError("pass validation_data or dev, not both")
            validation_data = dev
        params = self._params()
        texts = _texts_arg("texts", X)
        str_labels, all_int = self._training_labels("labels", y, len(texts), f"{len(texts)} texts but {{n}} labels")
        split = validation_split_arg(validation_data, validation_split)
        epochs = _int_arg("epochs", epochs, 1)
        batch_size = _int_arg("batch_size", batch_size, 1, 65536)
        learning_rate = _learning_rate(learning_rate)
        ngram_learning_rate = _learning_rate(ngram_learning_rate, "ngram_learning_rate")
        patience = _int_arg("patience", patience, 1)
        threads = _int_arg("threads", threads, 1, 1024)
        balance_classes = flag("balance_classes", balance_classes)
        callback = _progress_callback(progress)

        if validation_data is not None:
            dev_texts, dev_labels = validation_pair(validation_data, "texts, labels")
            dev_texts = _texts_arg("validation texts", dev_texts)
            dev_labels, _ = labels_arg("validation labels", dev_labels, len(dev_texts),
                                       f"{len(dev_texts)} validation texts but {{n}} labels")
            self._check_known(dev_labels, str_labels)
            train_texts, train_labels = texts, str_labels
        else:
            train, held_out = split_validation(len(texts), split, params["seed"], "texts", str_labels)
            train_texts, train_labels = [texts[i] for i in train], [str_labels[i] for i in train]
            dev_texts, dev_labels = [texts[i] for i in held_out], [str_labels[i] for i in held_out]

        config = self._c_config(params, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                ngram_learning_rate=ngram_learning_rate, patience=patience,
                                balance_classes=int(balance_classes), threads=threads)
        handle = _native.text_classifier_train(train_texts, train_labels, dev_texts, dev_labels, config, callback)
        self._set_model(handle, all_int)
        self._threads = threads
        return self

    # -- prediction --------------------------------------------------------------------

    @property
    def classes_(self) -> List[Label]:
        """The class labels, in the column order of predict_proba."""
        model = self._fitted()
        return [model.out(label) for label in model.labels]

    def predict_proba(self, X: Sequence[str], *, threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities, float32 of shape (len(X), len(classes_)); rows sum to 1.
        Runs with the GIL released, on up to ``threads`` threads (default: fit's)."""
        return self._fitted().handle.predict_proba(_texts_arg("texts", X), self._fit_threads(threads))

    def predict(self, X: Sequence[str], *, threads: Optional[int] = None) -> List[Label]:
        """The most probable class of each text."""
        model = self._fitted()
        proba = model.handle.predict_proba(_texts_arg("texts", X), self._fit_threads(threads))
        return [model.out(model.labels[j]) for j in proba.argmax(axis=1)]

    def attention(self, text: str) -> List[Tuple[str, float]]:
        """Which words decided: the tokens the model read in ``text``, in order, each with
        its attention weight (the weights sum to 1). The tokens are the model's
        normalised ones (characters for a character model, lower-cased words
        otherwise), the first ``max_length`` of them; a text without tokens gives [].
        ValueError if the model was not trained with pooling="attention", or if the
        text contains a NUL character. Runs with the GIL released."""
        handle = self._fitted().handle
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return handle.attention(text)

    def evaluate(self, X: Sequence[str], y: Sequence[Label]) -> Dict[str, Any]:
        """Scores predictions against gold labels: a dict with accuracy, macro_f1 (the
        unweighted mean of per-class F1), confusion (C x C int64 array, rows gold,
        columns predicted, in classes_ order) and labels (classes_). A label the model
        does not know is a ValueError naming it."""
        model = self._fitted()
        texts = _texts_arg("texts", X)
        gold, _ = labels_arg("labels", y, len(texts), f"{len(texts)} texts but {{n}} labels")
        result = score(list(model.labels), gold, model.handle.predict_proba(texts, self._threads))
        result["labels"] = [model.out(label) for label in model.labels]
        return result
