"""lstmkit.Tokenizer: Chinese word segmentation with LSTMKit's BiLSTM-CRF.

    >>> from lstmkit import Tokenizer
    >>> tok = Tokenizer.load()                 # the bundled PKU-standard model
    >>> words = tok.cut("我爱北京天安门")     # a list of str: words and whitespace runs
    >>> tok.add_words(["天安门广场"])          # user words always come out whole

Tokens cover the text exactly: ``"".join(tok.cut(text)) == text`` for every str.
Runs of whitespace come out as tokens of their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Union

from . import _native
from ._args import PathLike, callback_arg, file_bytes, handle_from_bytes, path_arg, read_file, str_list
from ._estimator import c_defaults, c_settings, loop_settings

__all__ = ["Tokenizer"]

#: The models that ship with the package (copied in by setup.py at build time), by the
#: name Tokenizer.load takes: the default first (docs/TOKENIZER.md, "The bundled models").
BUNDLED_MODELS = {name: Path(__file__).resolve().parent / "models" / f"{name}.safetensors"
                  for name in ("tokenizer-pku", "tokenizer-pku-large")}
BUNDLED_MODEL = BUNDLED_MODELS["tokenizer-pku"]

#: The C ABI's defaults (lk_tokenizer_train_config_default): the one definition, the
#: shipped model's recipe.
_D = _native.train_config_default("tokenizer")
_d = c_defaults(_D)


def _encode(name: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"{name} cannot be encoded as UTF-8: it holds the lone surrogate "
            f"U+{ord(text[e.start]):04X} at index {e.start}"
        ) from None


def _words(name: str, words: Any) -> List[str]:
    """A list or tuple of words, each a non-empty str without whitespace."""
    items = str_list(name, words)
    for j, word in enumerate(items):
        if not word:
            raise ValueError(f"{name}[{j}] is an empty word")
        if any(c.isspace() for c in word):
            raise ValueError(f"{name}[{j}] = {word!r} contains whitespace; a word cannot")
    return items


def _corpus(name: str, value: Any) -> bytes:
    """A training corpus as the library takes it: UTF-8, one sentence a line, words
    separated by spaces. value: a path to such a file, or a list of sentences, each a
    list of words or a str of whitespace-separated words."""
    if isinstance(value, (str, bytes, os.PathLike)):
        return read_file(value)
    try:
        sentences = list(value) if not isinstance(value, (bytearray, memoryview)) else None
    except TypeError:
        sentences = None
    if sentences is None:
        raise TypeError(f"{name} must be a path (str or os.PathLike) or a list of sentences (each a list of words "
                        f"or a space-separated str), got {type(value).__name__}")
    lines = []
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, (str, list, tuple)):
            raise TypeError(f"{name}[{i}] must be a list of words or a str, got {type(sentence).__name__}")
        words = sentence.split() if isinstance(sentence, str) else _words(f"{name}[{i}]", sentence)
        if words:
            lines.append(_encode(f"{name}[{i}]", " ".join(words) + "\n"))
    if not lines:
        raise ValueError(f"{name} holds no sentences (no words at all)")
    return b"".join(lines)


# -- the tokenizer ---------------------------------------------------------------------


class Tokenizer:
    """A BiLSTM-CRF Chinese word segmenter.

    Make one with :meth:`Tokenizer.load` (the bundled model, or a model file) or
    :meth:`Tokenizer.train`. One tokenizer may be shared by many threads: ``cut``,
    ``cut_many`` and ``tag`` release the GIL and run concurrently; ``add_words``,
    ``load_dictionary`` and ``clear_words`` wait for running calls to finish.
    A tokenizer pickles as its model file's bytes and its user words, so
    ``copy.copy`` gives an independent copy and ``multiprocessing`` can ship it.
    """

    def __init__(self) -> None:
        raise TypeError("use Tokenizer.load(path=None) or Tokenizer.train(...) to make a Tokenizer")

    @classmethod
    def _from_handle(cls, handle: Any) -> "Tokenizer":
        self = cls.__new__(cls)
        self._handle = handle
        return self

    # -- files ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Optional[PathLike] = None) -> "Tokenizer":
        """Reads a tokenizer model file; without a path, the model bundled with lstmkit
        (trained on the PKU People's Daily corpus: two small networks, int8). A bundled
        model's name instead of a path loads that one: "tokenizer-pku" (the default) or
        "tokenizer-pku-large" (the larger float16 ensemble: a little more accurate,
        about a third of the speed). A file of that name, if one exists, comes first.

        FileNotFoundError if there is no such bundled model; OSError if the file cannot
        be read; lstmkit.ModelFormatError (a ValueError) if it is corrupt or holds
        another kind of model (an LSTM, say).
        """
        name = "tokenizer-pku" if path is None else path if isinstance(path, str) else None
        if name in BUNDLED_MODELS and (path is None or not Path(name).exists()):
            path = BUNDLED_MODELS[name]
            if not path.is_file():
                raise FileNotFoundError(
                    f"the bundled tokenizer model is missing ({name}: {path} does not exist, "
                    f"this lstmkit was built without models/{name}.safetensors); "
                    f"pass the path of a model file: Tokenizer.load(path)"
                )
        return cls._from_handle(_native.tokenizer_load(path_arg("path", path)))

    @classmethod
    def ensemble(cls, tokenizers: Iterable["Tokenizer"]) -> "Tokenizer":
        """A new tokenizer that averages the scores of two or more trained tokenizers
        (the bundled model is one: a model trained with the training words as
        dictionary features and one without). Segmenting costs about the members'
        summed time; the ensemble is saved with 16-bit weights. The members are left
        as they are; their user words are not carried over.

        TypeError if an item is not a Tokenizer; ValueError if there are fewer than two
        or they do not fit together (trained on other data, another min_bigram_count
        or lexicon, or different dictionaries).
        """
        if isinstance(tokenizers, (str, bytes)):
            raise TypeError("tokenizers must be an iterable of Tokenizer objects, not a string")
        members = list(tokenizers)
        for i, t in enumerate(members):
            if not isinstance(t, Tokenizer):
                raise TypeError(f"tokenizers[{i}] is {type(t).__name__}, not a Tokenizer")
        return cls._from_handle(_native.tokenizer_ensemble([t._handle for t in members]))

    def save(self, path: PathLike) -> None:
        """Writes the model file (atomically: all or nothing). User words are not saved."""
        self._handle.save(path_arg("path", path))

    def quantize(self) -> "Tokenizer":
        """int8 networks in place (docs/QUANTIZATION.md); ValueError if already int8."""
        self._handle.quantize()
        return self

    # -- segmenting -------------------------------------------------------------------

    def cut(self, text: str) -> List[str]:
        """The words of text, and its runs of whitespace as tokens of their own.

        ``"".join(tok.cut(text)) == text`` always. ValueError if text holds a lone
        surrogate (it cannot be encoded as UTF-8).
        """
        return self._handle.segment((text,), 1, True)[0]

    def cut_many(self, texts: Iterable[str], threads: int = 2) -> List[List[str]]:
        """``[tok.cut(t) for t in texts]``, faster: the sentences of all texts are
        batched through the network on up to ``threads`` threads, with the GIL released.
        texts: any iterable of str (not a single str)."""
        return self._handle.segment(str_list("texts", texts), threads, False)

    def tag(self, text: str) -> List[str]:
        """BMES tags, one per character of text (per Python str element, i.e. code
        point), derived from :meth:`cut`: a token of n characters gives "S" if n == 1,
        else "B", n - 2 times "M", "E". Whitespace characters each get "S".
        ``len(tok.tag(text)) == len(text)`` always."""
        tags: List[str] = []
        for token in self.cut(text):
            n = len(token)
            if n == 1 or token.isspace():
                tags.extend("S" * n)
            else:
                tags.append("B")
                tags.extend("M" * (n - 2))
                tags.append("E")
        return tags

    # -- user words -------------------------------------------------------------------

    def add_words(self, words: Union[str, Iterable[str]]) -> None:
        """Adds user words: each comes out as one token wherever it occurs (leftmost
        longest, without overlaps); text without them is segmented exactly as before.
        words: one str or an iterable of str. Whitespace inside a word is ignored and an
        empty word is skipped."""
        self._handle.add_words(str_list("words", words, allow_str=True))

    def load_dictionary(self, path: PathLike) -> None:
        """Adds the words of a dictionary file (UTF-8, one word a line; anything after
        the first space or tab, as in jieba's "word freq pos" lines, is ignored)."""
        self._handle.load_dict(path_arg("path", path))

    def clear_words(self) -> None:
        """Removes every user word."""
        self._handle.clear_words()

    @property
    def word_count(self) -> int:
        """The number of user words."""
        return self._handle.word_count()

    @property
    def user_words(self) -> List[str]:
        """The user words as kept (normalised: full-width letters and digits as ASCII,
        whitespace removed), sorted."""
        return self._handle.words()

    # -- pickling and copies: the model file's bytes and the user words ------------------

    def __getstate__(self) -> dict:
        return {"model": file_bytes(self._handle), "user_words": self.user_words}

    def __setstate__(self, state: dict) -> None:
        self._handle = handle_from_bytes(_native.tokenizer_load, state["model"])
        if state["user_words"]:
            self._handle.add_words(state["user_words"])

    def __repr__(self) -> str:
        return f"<lstmkit.Tokenizer with {self.word_count} user words>"

    # -- training ---------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        train: Any,
        dev: Any,
        *,
        epochs: int = _d("epochs"),
        batch_size: int = _d("batch_size"),
        learning_rate: float = _d("learning_rate"),
        hidden_size: int = _d("hidden_size"),
        num_layers: int = _d("num_layers"),
        char_dim: int = _d("char_dim"),
        bigram_dim: int = _d("bigram_dim"),
        min_bigram_count: int = _d("min_bigram_count"),
        dictionary_max_length: int = _d("dictionary_max_length"),
        dictionary_min_count: int = _d("dictionary_min_count"),
        unknown_bigram_rate: float = _d("unknown_bigram_rate"),
        feature_dropout: float = _d("feature_dropout"),
        lexicon: Any = None,
        lexicon_max_length: int = _d("lexicon_max_length"),
        dropout: float = _d("dropout"),
        label_smoothing: float = _d("label_smoothing"),
        average_decay: float = _d("average_decay"),
        patience: int = _d("patience"),
        threads: int = _d("threads"),
        max_batches_per_epoch: int = _d("max_batches_per_epoch"),
        seed: int = _d("seed"),
        checkpoint: Optional[PathLike] = None,
        progress: Union[bool, Callable[[str], Any], None] = True,
        resume: Optional[bool] = None,
        schedule: Optional[str] = None,
        time_limit: Optional[float] = None,
        cell: Optional[str] = None,
        teacher: Optional[PathLike] = None,
        unlabelled: Optional[PathLike] = None,
        distill_weight: Optional[float] = None,
        distill_temperature: Optional[float] = None,
        distill_labelled_share: Optional[float] = None,
    ) -> "Tokenizer":
        """Trains a tokenizer and returns the model with the best F1 on ``dev``.

        train, dev: a path to a corpus file (UTF-8, one sentence a line, words separated
            by spaces: the People's Daily format), or a list of sentences, each a list
            of words or a str of whitespace-separated words.
        epochs: at most this many passes over train; training stops earlier after
            ``patience`` epochs without a better dev F1.
        hidden_size, num_layers, char_dim, bigram_dim: the network (BiLSTM hidden size
            per direction, at most 4096; layers at most 16; embedding sizes at most 4096).
        min_bigram_count: rarer training bigrams map to "unknown".
        dictionary_max_length: features from training words of 2 ... this many
            characters (0 turns them off; at most 16).
        dictionary_min_count: training sentences see the training words seen at least
            this many times as their dictionary (segmenting uses every training word),
            so that words missing from the dictionary look in training as unseen words
            will look later.
        unknown_bigram_rate: in training, each bigram becomes "unknown" with this
            probability, so that unseen bigrams at test time are not read as boundaries.
        feature_dropout: in training, a sentence loses its dictionary and lexicon
            features with this probability.
        lexicon: a general lexicon (words from outside the training data): a path to a
            file of one word a line (anything after a space or tab ignored) or a list
            of words. Its words of 2 ... lexicon_max_length characters (at most 16)
            become a second set of features, in training and segmenting alike, and are
            stored in the model. None: no lexicon.
        dropout, label_smoothing: in [0, 1).
        threads: for evaluating on dev.
        max_batches_per_epoch: 0 for whole epochs (a small value for quick trials).
        checkpoint: a path written after every epoch; if it exists when training starts,
            training resumes from it (same data and options), unless resume is False
            (resume True: it must exist).
        average_decay, schedule, time_limit, cell: the training loop's settings, as every
            model's (lstmkit._estimator.LOOP_PARAMS says what they do); None: the default.
        progress: True prints each progress line (flushed), False/None is silent, a
            callable receives each line (a str, no newline).
        teacher, unlabelled, distill_weight, distill_temperature, distill_labelled_share:
            distillation (docs/TOKENIZER.md): the path of a tokenizer model file whose
            per-character scores the new network learns besides the gold tags, a text
            file (one text a line; never dev or test text) learned from the teacher's
            scores alone, the weight of the teacher's term, the softmaxes' temperature,
            and the share of that weight on the training split (0: the gold tags alone
            there); None: the library's default (no teacher, no unlabelled text, 1, 2, 1).

        Training runs with the GIL released. If the progress callable raises, later
        lines are not delivered, training still runs to its end (the library cannot be
        interrupted), and then that exception is raised and the model is dropped.
        ValueError if training diverges (a NaN or infinite loss or gradient): lower
        learning_rate.
        """
        # The distillation settings default to None (the library's default) in the
        # signature, and two are file names: they go to the library here, not through
        # c_settings' type checks against the default text.
        distill = {"teacher": teacher, "unlabelled": unlabelled, "distill_weight": distill_weight,
                   "distill_temperature": distill_temperature, "distill_labelled_share": distill_labelled_share}
        config = c_settings(_D, {k: v for k, v in locals().items() if k not in distill})
        if resume is None and checkpoint is not None:
            resume = os.path.exists(path_arg("checkpoint", checkpoint))
        loop_settings(locals(), config)
        for name, value in distill.items():
            if value is not None:
                config[name] = path_arg(name, value) if name in ("teacher", "unlabelled") else value
        callback = callback_arg("progress", progress)
        train_text = _corpus("train", train)
        dev_text = _corpus("dev", dev)
        lexicon_text = None if lexicon is None else _lexicon(lexicon)
        handle = _native.tokenizer_train(train_text, dev_text, config, callback, lexicon_text)
        return cls._from_handle(handle)


def _lexicon(value: Any) -> bytes:
    """A lexicon as the library takes it: UTF-8, one word a line. value: a path to
    such a file or a list of words."""
    if isinstance(value, (str, bytes, os.PathLike)):
        data = read_file(value)
        if not data.strip():
            raise ValueError(f"lexicon: {os.fspath(value)!r} holds no words")
        return data
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"lexicon must be a path or a list of words, got {type(value).__name__}")
    if not value:
        raise ValueError("lexicon holds no words")
    return _encode("lexicon", "".join(w + "\n" for w in _words("lexicon", value)))



def _cut_offsets(self: Tokenizer, text: str) -> List[int]:
    """Where each token of cut(text) ends, in characters (token k is text[ends[k-1]:ends[k]]):
    cut's segmentation without a string per token. TypeError / ValueError as cut."""
    return _native.tokenizer_cut_offsets(self._handle, text)


Tokenizer.cut_offsets = _cut_offsets  # type: ignore[attr-defined]
