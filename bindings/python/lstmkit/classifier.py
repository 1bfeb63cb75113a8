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
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _native
from ._args import str_list
from ._estimator import Classifier, Fitted, c_defaults, fit_args
from ._labels import Label, labels_arg

__all__ = ["TextClassifier"]

#: The C ABI's defaults (lk_text_classifier_train_config_default): the one definition.
_D = _native.train_config_default("text_classifier")
_d = c_defaults(_D)


class TextClassifier(Classifier):
    """An unfitted text classifier (scikit-learn's estimator contract): configure, then
    ``fit``. The arguments are checked by ``fit``.

    Args:
        pooling: "attention" (default), "mean", "max", "last" or "self_attention" (a
            self-attention block of attention_heads heads, then attention).
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
        **loop: the training loop's settings, as every model's (None: the default):
            schedule, average_decay, time_limit, checkpoint, resume, cell (see Estimator).

    X is a sequence of str (texts), y their labels; ``predict`` returns a list.
    """

    _C_DEFAULTS = _D
    _LOAD, _TRAIN = _native.text_classifier_load, _native.text_classifier_train
    _PAIR, _ITEMS = "texts, labels", "texts"
    _takes_arrays = False

    def __init__(
        self,
        pooling: str = _d("pooling"),
        embedding_dim: int = _d("embedding_dim"),
        hidden_size: int = _d("hidden_size"),
        num_layers: int = _d("num_layers"),
        bidirectional: bool = _d("bidirectional"),
        attention_size: int = _d("attention_size"),
        dropout: float = _d("dropout"),
        max_length: int = _d("max_length"),
        min_count: int = _d("min_count"),
        tokenization: str = _d("tokenization"),
        ngram_order: int = _d("ngram_order"),
        ngram_dropout: float = _d("ngram_dropout"),
        min_ngram_count: int = _d("min_ngram_count"),
        seed: int = _d("seed"),
        bigram_dim: int = _d("bigram_dim"),
        min_bigram_count: int = _d("min_bigram_count"),
        attention_heads: int = _d("attention_heads"),
        **loop: Any,
    ) -> None:
        self._init_params(locals())

    @fit_args(_d, "epochs batch_size learning_rate patience threads progress")
    def fit(self, X: Sequence[str], y: Sequence[Label], *, ngram_learning_rate: float = _d("ngram_learning_rate"),
            balance_classes: bool = _d("balance_classes"), dev: Optional[Tuple[Sequence[str], Sequence[Label]]] = None,
            **args: Any) -> "TextClassifier":
        """
        ``dev=`` is the former name of validation_data (deprecated).
        ngram_learning_rate: Adam's rate for the n-gram head (with ngram_order > 0),
        which learns beside the LSTM with its own early stopping; the mix of the two
        heads' probabilities is chosen on the validation data.
        """
        if dev is not None:
            warnings.warn("TextClassifier.fit(dev=...) is deprecated: use validation_data=", DeprecationWarning,
                          stacklevel=2)
            if args["validation_data"] is not None:
                raise ValueError("pass validation_data or dev, not both")
            args["validation_data"] = dev
        return self._fit(X, y, dict(args, ngram_learning_rate=ngram_learning_rate, balance_classes=balance_classes))

    def _inputs(self, X: Any, prefix: str = "", model: Optional[Fitted] = None) -> List[str]:
        return str_list(prefix + "texts", X, allow_empty=False)

    def _targets(self, y: Any, X: List[str], prefix: str = "", model: Optional[Fitted] = None) -> Any:
        return labels_arg(prefix + "labels", y, len(X), f"{len(X)} {prefix}texts but {{n}} labels")

    def attention(self, text: str) -> List[Tuple[str, float]]:
        """Which words decided: the tokens the model read in ``text``, in order, each with
        its attention weight (the weights sum to 1). The tokens are the model's
        normalised ones (characters for a character model, lower-cased words
        otherwise), the first ``max_length`` of them; a text without tokens gives [].
        ValueError unless the model pools by "attention" or "self_attention", or if the
        text contains a NUL character. Runs with the GIL released."""
        return self._fitted().handle.attention(text)
