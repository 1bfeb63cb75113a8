"""lstmkit.Seq2Seq: text to text (grapheme to phoneme, translation) with an LSTM encoder,
attention and an LSTM decoder (docs/SEQ2SEQ.md).

    >>> g2p = Seq2Seq(target_tokens="words").fit(words, phonemes)   # lists of str
    >>> g2p.translate(["cab"])                 # ["K AE1 B"]; n_best=3: [[(text, score), ...]]
    >>> out, src, weights = g2p.attention("cab")   # weights: (len(out), len(src))

Symbols never seen in training become the unknown token; a source longer than any seen
decodes too (at most ceil(max_length_ratio x its tokens) tokens out); an empty source (a
blank one with word tokens) is a ValueError.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._args import PathLike, path_arg, str_list
from ._estimator import Estimator, Fitted, c_defaults, fit_args, setting_arg

__all__ = ["Seq2Seq"]

#: The library's defaults (lk_train_config_default_text("seq2seq") and
#: lk_seq2seq_decoding_default()): the one definition.
_D = _native.train_config_default("seq2seq")
_d = c_defaults(_D)
_DECODING = _native.seq2seq_decoding_default()
#: The G2P model that ships with the package (copied in by setup.py, as the tokenizer's).
BUNDLED_G2P = Path(__file__).resolve().parent / "models" / "g2p-cmudict.safetensors"


class Seq2Seq(Estimator):
    """An unfitted seq2seq model (scikit-learn's estimator contract), checked by ``fit``.

    Args: the engine's settings (docs/SEQ2SEQ.md): source_tokens, target_tokens
    ("characters" or "words"); embedding_size, hidden_size (per direction), num_layers,
    bidirectional of the encoder; attention_score ("dot", "general" or "additive": the
    engine's ``score``) and attention_size (additive); self_attention_blocks (self-attention
    blocks over the encoder's states, 0: none) and self_attention_heads; bridge (the decoder starts from the
    encoder's final states, else zeros); dropout, label_smoothing; max_length_ratio;
    min_count (rarer tokens are unknown); seed; and **loop, the training loop's settings
    as every model's (cell, schedule, average_decay, time_limit, checkpoint, ...).
    """

    _C_DEFAULTS = _D
    _LOAD, _TRAIN = _native.seq2seq_load, _native.seq2seq_train
    _PAIR, _ITEMS, _SCORE = "sources, targets", "pairs", "exact_match"
    _estimator_type = "seq2seq"
    _takes_arrays = False

    def __init__(
        self,
        source_tokens: str = _d("source_tokens"),
        target_tokens: str = _d("target_tokens"),
        embedding_size: int = _d("embedding_size"),
        hidden_size: int = _d("hidden_size"),
        num_layers: int = _d("num_layers"),
        bidirectional: bool = _d("bidirectional"),
        attention_score: str = _d("score"),
        attention_size: int = _d("attention_size"),
        self_attention_blocks: int = _d("self_attention_blocks"),
        self_attention_heads: int = _d("self_attention_heads"),
        bridge: bool = _d("bridge"),
        dropout: float = _d("dropout"),
        label_smoothing: float = _d("label_smoothing"),
        max_length_ratio: float = _d("max_length_ratio"),
        min_count: int = _d("min_count"),
        seed: int = _d("seed"),
        **loop: Any,
    ) -> None:
        self._init_params(locals())

    @fit_args(_d, "epochs batch_size learning_rate patience decay_factor time_limit threads progress")
    def fit(self, X: Sequence[str], y: Sequence[str], **args: Any) -> "Seq2Seq":
        """X: source texts, y: their targets (lists of str). The validation score: the share
        of sources whose greedy translation is the target."""
        return self._fit(X, y, args)

    def _train_config(self, args: Any) -> Any:
        config = super()._train_config(args)
        config["score"] = setting_arg("attention_score", self.attention_score, _d("score"))
        return config

    @classmethod
    def load(cls, path: Optional[PathLike] = None) -> "Seq2Seq":
        """Reads a model file; without a path, the bundled G2P model (`lstmkit g2p`'s: lower-case
        words to ARPAbet phonemes), FileNotFoundError if this lstmkit has none."""
        if path is None and not BUNDLED_G2P.is_file():
            raise FileNotFoundError(f"the bundled G2P model is missing ({BUNDLED_G2P} does not exist: this lstmkit was built "
                                    f"without models/g2p-cmudict.safetensors; bash models/train_g2p.sh trains it); pass a path")
        self = super().load(BUNDLED_G2P if path is None else path)
        self.attention_score = self._fitted().handle.config()["score"]
        return self

    def _inputs(self, X: Any, prefix: str = "", model: Optional[Fitted] = None) -> List[str]:
        return str_list(prefix + "sources", X, allow_empty=False)

    def _targets(self, y: Any, X: List[str], prefix: str = "", model: Optional[Fitted] = None) -> Tuple[List[str], bool]:
        y = str_list(prefix + "targets", y)
        if len(y) != len(X):
            raise ValueError(f"{len(X)} {prefix}sources but {len(y)} targets")
        return y, False

    def translate(self, texts: Sequence[str], beam: int = _DECODING["beam_size"], n_best: int = _DECODING["n_best"],
                  length_penalty: float = _DECODING["length_penalty"],
                  max_length_ratio: float = _DECODING["max_length_ratio"], *, threads: Optional[int] = None) -> List[Any]:
        """Each text's best translation (a list of str), or with n_best > 1 its n_best
        best as (text, log-probability / length^length_penalty), best first. beam 1:
        greedy; max_length_ratio 0: the model's. GIL released; threads default: fit's."""
        decoding = (beam, n_best, length_penalty, max_length_ratio)
        with _beam_named():
            text, scores = self._fitted().handle.translate(str_list("texts", texts), decoding, self._predict_threads(threads))
        out, k = text.split("\0") if scores.size else [], scores.shape[1]
        return out if k == 1 else [[(out[i * k + j], float(s)) for j, s in enumerate(row)] for i, row in enumerate(scores)]

    def attention(self, text: str, beam: int = _DECODING["beam_size"], rank: int = 0,
                  png: Optional[PathLike] = None) -> Tuple[List[str], List[str], np.ndarray]:
        """The attention of translation ``rank`` (0: the best) of one text: (output
        tokens, source tokens, float32 weights (outputs, sources)), each row summing to 1.
        png: also write it there as a heat map (the CLI's --attention-png: rows = output
        tokens, columns = source tokens, black = 1; 17 pixels a cell, plus 1)."""
        with _beam_named():
            tokens, weights = self._fitted().handle.attention(text, (beam, rank + 1, _DECODING["length_penalty"], 0.0), rank)
        if png is not None:
            _native.heat_map_png(weights, path_arg("png", png))
        tokens = tokens.split("\0")
        return tokens[: len(weights)], tokens[len(weights):], weights

    def score(self, X: Sequence[str], y: Sequence[str]) -> float:
        """The share of sources whose best translation (greedy) equals the target."""
        y, _ = self._targets(y, self._inputs(X))
        return float(np.mean([a == b for a, b in zip(self.translate(X, beam=1), y)]))


@contextlib.contextmanager
def _beam_named() -> Iterator[None]:
    """The library names the beam as C does (beam_size); here the argument is beam."""
    try:
        yield
    except ValueError as e:
        raise ValueError(str(e).replace("beam_size", "beam")) from None
