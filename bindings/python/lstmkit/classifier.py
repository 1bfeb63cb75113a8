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

import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._labels import is_int_text, labels_arg, score
from .tokenizer import PathLike, _fraction_arg, _int_arg, _learning_rate, _path_arg, _progress_callback

__all__ = ["TextClassifier"]

_POOLING = {"last": 0, "mean": 1, "max": 2, "attention": 3}
_TOKENIZATION = {"auto": 0, "characters": 1, "words": 2}

Label = Union[str, int]


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


class TextClassifier:
    """An unfitted text classifier (sklearn-like): configure, then ``fit``.

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
    """

    def __init__(
        self,
        pooling: str = "attention",
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention_size: int = 64,
        dropout: float = 0.3,
        max_length: int = 400,
        min_count: int = 2,
        tokenization: str = "auto",
        ngram_order: int = 0,
        ngram_dropout: float = 0.5,
        min_ngram_count: int = 2,
        seed: int = 1,
    ) -> None:
        if not isinstance(pooling, str) or pooling not in _POOLING:
            raise ValueError(f"pooling must be one of {sorted(_POOLING)}, got {pooling!r}")
        if not isinstance(tokenization, str) or tokenization not in _TOKENIZATION:
            raise ValueError(f"tokenization must be one of {sorted(_TOKENIZATION)}, got {tokenization!r}")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
        self.pooling = pooling
        self.embedding_dim = _int_arg("embedding_dim", embedding_dim, 1, 4096)
        self.hidden_size = _int_arg("hidden_size", hidden_size, 1, 4096)
        self.num_layers = _int_arg("num_layers", num_layers, 1, 16)
        self.bidirectional = bool(bidirectional)
        self.attention_size = _int_arg("attention_size", attention_size, 1, 4096)
        self.dropout = _fraction_arg("dropout", dropout)
        self.max_length = _int_arg("max_length", max_length, 1, 1_000_000)
        self.min_count = _int_arg("min_count", min_count, 1)
        self.tokenization = tokenization
        self.ngram_order = _int_arg("ngram_order", ngram_order, 0, 8)
        self.ngram_dropout = _fraction_arg("ngram_dropout", ngram_dropout)
        self.min_ngram_count = _int_arg("min_ngram_count", min_ngram_count, 1)
        self.seed = _int_arg("seed", seed, 0, 2**64 - 1)
        self._handle: Any = None
        self._labels: List[str] = []
        self._int_labels = False

    # -- fitting -----------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Label],
        dev: Optional[Tuple[Sequence[str], Sequence[Label]]] = None,
        *,
        validation_split: float = 0.1,
        epochs: int = 20,
        batch_size: int = 32,
        learning_rate: float = 0.002,
        ngram_learning_rate: float = 0.05,
        patience: int = 3,
        balance_classes: bool = False,
        threads: int = 2,
        progress: Union[bool, Callable[[str], Any], None] = True,
    ) -> "TextClassifier":
        """Trains on (texts, labels), early-stopping on the accuracy on a dev set, and
        keeps the weights of the best epoch. Returns self.

        dev: a (texts, labels) pair; without it the last ``validation_split`` of a
        shuffle (seeded by ``seed``) of the training data is held out as dev (held-out
        texts whose label is left without a training example are dropped from dev).
        ngram_learning_rate: Adam's rate for the n-gram head (with ngram_order > 0),
        which learns beside the LSTM with its own early stopping; the mix of the two
        heads' probabilities is chosen on dev.
        progress: True prints each line, False/None is silent, a callable receives them.
        Training runs with the GIL released.
        """
        texts = _texts_arg("texts", texts)
        str_labels, all_int = labels_arg("labels", labels, len(texts), f"{len(texts)} texts but {{n}} labels")
        if len(set(str_labels)) < 2:
            raise ValueError(f"labels hold a single class ({str_labels[0]!r}): a classifier needs at least 2")
        epochs = _int_arg("epochs", epochs, 1)
        batch_size = _int_arg("batch_size", batch_size, 1, 65536)
        learning_rate = _learning_rate(learning_rate)
        ngram_learning_rate = _learning_rate(ngram_learning_rate, "ngram_learning_rate")
        patience = _int_arg("patience", patience, 1)
        threads = _int_arg("threads", threads, 1, 1024)
        if not isinstance(balance_classes, (bool, np.bool_)):
            raise TypeError(f"balance_classes must be a bool, got {type(balance_classes).__name__}")
        callback = _progress_callback(progress)

        if dev is not None:
            if not isinstance(dev, (tuple, list)) or len(dev) != 2:
                raise TypeError("dev must be a (texts, labels) pair")
            dev_texts = _texts_arg("dev texts", dev[0])
            dev_labels, _ = labels_arg("dev labels", dev[1], len(dev_texts), f"{len(dev_texts)} texts but {{n}} dev labels")
            train_texts, train_labels = texts, str_labels
            unseen = sorted(set(dev_labels) - set(train_labels))
            if unseen:
                raise ValueError(f"dev labels {unseen} do not occur in the training labels")
        else:
            if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
                raise TypeError(f"validation_split must be a float, got {type(validation_split).__name__}")
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            n = len(texts)
            n_dev = max(1, int(round(n * validation_split)))
            if n - n_dev < 2:
                raise ValueError(f"{n} texts are too few to hold out a validation_split of {validation_split}")
            order = list(range(n))
            random.Random(self.seed).shuffle(order)
            train_idx, dev_idx = order[: n - n_dev], order[n - n_dev:]
            train_texts = [texts[i] for i in train_idx]
            train_labels = [str_labels[i] for i in train_idx]
            if len(set(train_labels)) < 2:
                raise ValueError("after holding out the validation split, the training labels hold a single class")
            known = set(train_labels)
            kept = [i for i in dev_idx if str_labels[i] in known]
            if not kept:
                raise ValueError("no held-out text has a label seen in training: pass dev explicitly")
            dev_texts = [texts[i] for i in kept]
            dev_labels = [str_labels[i] for i in kept]

        config = _native.text_classifier_train_config_default()
        config.update(
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=int(self.bidirectional),
            pooling=_POOLING[self.pooling],
            attention_size=self.attention_size,
            dropout=self.dropout,
            max_length=self.max_length,
            min_count=self.min_count,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            patience=patience,
            balance_classes=int(bool(balance_classes)),
            tokenization=_TOKENIZATION[self.tokenization],
            threads=threads,
            seed=self.seed,
            ngram_order=self.ngram_order,
            ngram_dropout=self.ngram_dropout,
            ngram_learning_rate=ngram_learning_rate,
            min_ngram_count=self.min_ngram_count,
        )
        handle = _native.text_classifier_train(train_texts, train_labels, dev_texts, dev_labels, config, callback)
        self._set_handle(handle, all_int)
        self._threads = threads
        return self

    def _set_handle(self, handle: Any, int_labels: bool) -> None:
        self._handle = handle
        self._labels = handle.labels()
        self._int_labels = int_labels and all(is_int_text(label) for label in self._labels)

    # -- prediction --------------------------------------------------------------------

    def _fitted(self) -> Any:
        if self._handle is None:
            raise RuntimeError("this TextClassifier is not fitted yet: call fit() or TextClassifier.load()")
        return self._handle

    @property
    def classes_(self) -> List[Label]:
        """The class labels, in the column order of predict_proba."""
        self._fitted()
        return [self._out(label) for label in self._labels]

    def _out(self, label: str) -> Label:
        return int(label) if self._int_labels else label

    def predict_proba(self, texts: Sequence[str], *, threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities, float32 of shape (len(texts), len(classes_)); rows sum to 1.
        Runs with the GIL released, on up to ``threads`` threads (default: fit's)."""
        handle = self._fitted()
        texts = _texts_arg("texts", texts)
        threads = getattr(self, "_threads", 2) if threads is None else _int_arg("threads", threads, 1, 1024)
        return handle.predict_proba(texts, threads)

    def predict(self, texts: Sequence[str], *, threads: Optional[int] = None) -> List[Label]:
        """The most probable class of each text."""
        proba = self.predict_proba(texts, threads=threads)
        return [self._out(self._labels[j]) for j in proba.argmax(axis=1)]

    def attention(self, text: str) -> List[Tuple[str, float]]:
        """Which words decided: the tokens the model read in ``text``, in order, each with
        its attention weight (the weights sum to 1). The tokens are the model's
        normalised ones (characters for a character model, lower-cased words
        otherwise), the first ``max_length`` of them; a text without tokens gives [].
        ValueError if the model was not trained with pooling="attention", or if the
        text contains a NUL character. Runs with the GIL released."""
        handle = self._fitted()
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return handle.attention(text)

    def evaluate(self, texts: Sequence[str], labels: Sequence[Label]) -> Dict[str, Any]:
        """Scores predictions against gold labels: a dict with accuracy, macro_f1 (the
        unweighted mean of per-class F1), confusion (C x C int64 array, rows gold,
        columns predicted, in classes_ order) and labels (classes_). A label the model
        does not know is a ValueError naming it."""
        self._fitted()
        texts = _texts_arg("texts", texts)
        gold, _ = labels_arg("labels", labels, len(texts), f"{len(texts)} texts but {{n}} labels")
        result = score(self._labels, gold, self.predict_proba(texts))
        result["labels"] = self.classes_
        return result

    # -- files -------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the model file (atomically)."""
        self._fitted().save(_path_arg("path", path))

    @classmethod
    def load(cls, path: PathLike) -> "TextClassifier":
        """Reads a model file written by save(). OSError if it cannot be read;
        lstmkit.ModelFormatError (a ValueError) if it is corrupt or holds another kind
        of model (the message names both kinds). The hyper-parameters of the returned
        object are the defaults (the model file's own are what count)."""
        handle = _native.text_classifier_load(_path_arg("path", path))
        self = cls()
        labels = handle.labels()
        self._set_handle(handle, all(is_int_text(label) for label in labels))
        return self

    def __repr__(self) -> str:
        state = f"classes={self.classes_!r}" if self._handle is not None else "unfitted"
        return (f"TextClassifier(pooling={self.pooling!r}, embedding_dim={self.embedding_dim}, "
                f"hidden_size={self.hidden_size}, {state})")
