"""Tokenizer.cut_offsets: cut's segmentation as token end offsets in characters."""
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit

GOLDEN = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "golden"


@pytest.fixture(scope="module")
def tokenizer():
    return lstmkit.Tokenizer.load(GOLDEN / "tokenizer.safetensors")


def _ends(tokens):
    return list(itertools.accumulate(len(t) for t in tokens))


@pytest.mark.parametrize("text", ["", "我爱北京天安门。", "  他说：今天 的天气很好\n\tLSTMKit 2024 版发布了。 ", "表情😀符号𠀀字", "a"])
def test_matches_cut(tokenizer, text):
    ends = tokenizer.cut_offsets(text)
    assert ends == _ends(tokenizer.cut(text))
    assert [text[a:b] for a, b in zip([0] + ends, ends)] == tokenizer.cut(text)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text(tokenizer, text):
    assert tokenizer.cut_offsets(text) == _ends(tokenizer.cut(text))


def test_bad_input(tokenizer):
    with pytest.raises(TypeError):
        tokenizer.cut_offsets(b"bytes")
    with pytest.raises(ValueError):
        tokenizer.cut_offsets("lone \ud800 surrogate")
