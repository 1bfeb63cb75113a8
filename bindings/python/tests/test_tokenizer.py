"""lstmkit.Tokenizer: segmenting invariants, user words, files, training, threads.

A tiny tokenizer is trained once for the module from the CWS fixtures (a second or so);
its segmentation is poor, which is fine: the tests check the contracts (tokens cover
the text, batching and threads change nothing, user words come out whole, files round
trip), not the quality. Only the bundled model's test checks quality.
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit
from lstmkit import ModelFormatError, Tokenizer
from lstmkit.tokenizer import BUNDLED_MODEL, BUNDLED_MODELS
from helpers import cli, cli_error, needs_cli, run_threads

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "Tests" / "Fixtures" / "cws"
TRAIN = FIXTURES / "train.txt"
DEV = FIXTURES / "dev.txt"
TEST = FIXTURES / "test.txt"

TINY = dict(hidden_size=16, char_dim=16, bigram_dim=8, min_bigram_count=1, epochs=2,
            max_batches_per_epoch=20, seed=3)


def read_lines(path):
    """The fixture's sentences as lists of words."""
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def trained():
    """(tokenizer, progress lines): trained once for the whole module."""
    lines = []
    tok = Tokenizer.train(TRAIN, DEV, progress=lines.append, **TINY)
    return tok, lines


@pytest.fixture
def tok(trained):
    tokenizer = trained[0]
    tokenizer.clear_words()  # every test starts without user words
    yield tokenizer
    tokenizer.clear_words()


@pytest.fixture(scope="module")
def dev_texts():
    return ["".join(words) for words in read_lines(DEV)]


def check_tokens(tok, text):
    """The invariants of one cut; returns the tokens."""
    tokens = tok.cut(text)
    assert isinstance(tokens, list)
    assert all(type(t) is str for t in tokens)
    assert all(t for t in tokens), f"an empty token in {tokens!r}"
    assert "".join(tokens) == text
    tags = tok.tag(text)
    assert len(tags) == len(text)
    assert set(tags) <= {"B", "M", "E", "S"}
    return tokens


# -- training and progress -------------------------------------------------------------


def test_training_reports_progress(trained):
    _, lines = trained
    assert lines, "the progress callback was never called"
    assert all(type(line) is str and "\n" not in line for line in lines)
    assert any("epoch 1" in line for line in lines), lines
    assert any("epoch 2" in line for line in lines), lines


def test_progress_true_prints_lines(capsys):
    Tokenizer.train(TRAIN, DEV, progress=True, **{**TINY, "epochs": 1, "max_batches_per_epoch": 2})
    out = capsys.readouterr().out
    assert "epoch 1" in out


def test_progress_false_is_silent(capsys):
    Tokenizer.train(TRAIN, DEV, progress=False, **{**TINY, "epochs": 1, "max_batches_per_epoch": 2})
    assert capsys.readouterr().out == ""


def test_progress_callback_exception_is_raised_after_training():
    class Stop(Exception):
        pass

    calls = []

    def callback(line):
        calls.append(line)
        raise Stop("from the callback")

    with pytest.raises(Stop, match="from the callback"):
        Tokenizer.train(TRAIN, DEV, progress=callback,
                        **{**TINY, "epochs": 2, "max_batches_per_epoch": 2})
    assert len(calls) == 1, "lines were delivered after the callback raised"


def test_train_from_lists_of_sentences():
    train = read_lines(TRAIN)
    # words lists and space-separated strs may be mixed
    train = [" ".join(s) if i % 2 else s for i, s in enumerate(train)]
    dev = [" ".join(s) for s in read_lines(DEV)[:10]]
    lines = []
    tok = Tokenizer.train(train, dev, progress=lines.append,
                          **{**TINY, "epochs": 1, "max_batches_per_epoch": 3})
    assert "".join(tok.cut("今天天气很好。")) == "今天天气很好。"
    assert any("epoch 1" in line for line in lines)


def test_train_defaults_are_the_libraries():
    """Tokenizer.train's defaults are lk_tokenizer_train_config_default()'s (the
    shipped model's recipe)."""
    import inspect
    from lstmkit import _native
    native = _native.train_config_default("tokenizer")
    params = inspect.signature(Tokenizer.train).parameters
    # The default text also lists the engine's settings the C struct lacks (cell,
    # schedule...), which train takes through **settings.
    shared = set(native) & set(params)
    assert {"epochs", "batch_size", "learning_rate", "hidden_size", "seed"} <= shared, shared
    for name in shared - {n for n in shared if params[n].default is None}:   # None: the library's (time_limit)
        assert params[name].default == pytest.approx(float(native[name])), name


def test_train_with_a_lexicon(tmp_path):
    """The lexicon (a list or a file) becomes features stored in the model."""
    small = {**TINY, "epochs": 1, "max_batches_per_epoch": 3}
    words = ["中国", "人民", "经济发展"]
    from_list = Tokenizer.train(TRAIN, DEV, lexicon=words, lexicon_max_length=4, progress=False, **small)
    path = tmp_path / "lexicon.txt"
    path.write_text("".join(w + " 10 n\n" for w in words), encoding="utf-8")
    from_file = Tokenizer.train(TRAIN, DEV, lexicon=path, lexicon_max_length=4, progress=False, **small)
    for i, tok in enumerate([from_list, from_file]):
        model = tmp_path / f"m{i}.safetensors"
        tok.save(model)
        data = model.read_bytes()
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
        assert header["__metadata__"]["lexicon_max_length"] == "4"
        assert header["__metadata__"]["lexicon_words"] == "3"
        assert Tokenizer.load(model).cut("中国经济发展很快。") == tok.cut("中国经济发展很快。")
    assert from_list.cut("中国经济发展很快。") == from_file.cut("中国经济发展很快。")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no words"):
        Tokenizer.train(TRAIN, DEV, lexicon=blank, progress=False, **small)


def test_train_distilled_from_a_teacher(tmp_path, trained):
    """Distillation (issue 18): a teacher model file and unlabelled text train; a
    missing teacher, unlabelled text without one and a bad temperature are refused."""
    small = {**TINY, "epochs": 1, "max_batches_per_epoch": 3}
    teacher = tmp_path / "teacher.safetensors"
    trained[0].save(teacher)
    text = tmp_path / "reviews.txt"
    text.write_text("这家酒店的服务很好。\n价格便宜，下次还来！\n", encoding="utf-8")
    student = Tokenizer.train(TRAIN, DEV, teacher=teacher, unlabelled=text, distill_weight=0.5,
                              distill_temperature=3, distill_labelled_share=0, progress=False, **small)
    assert "".join(student.cut("今天天气很好。")) == "今天天气很好。"
    with pytest.raises(OSError, match="missing.safetensors"):
        Tokenizer.train(TRAIN, DEV, teacher=tmp_path / "missing.safetensors", progress=False, **small)
    with pytest.raises(ValueError, match="needs a teacher"):
        Tokenizer.train(TRAIN, DEV, unlabelled=text, progress=False, **small)
    with pytest.raises(ValueError, match="distill_temperature"):
        Tokenizer.train(TRAIN, DEV, teacher=teacher, distill_temperature=0, progress=False, **small)
    with pytest.raises(ValueError, match="distill_labelled_share"):
        Tokenizer.train(TRAIN, DEV, teacher=teacher, distill_labelled_share=1.5, progress=False, **small)


@pytest.mark.parametrize("seed", [1, 3])
def test_train_with_checkpoint_resumes(tmp_path, seed):
    checkpoint = tmp_path / "run.ckpt"
    small = {**TINY, "max_batches_per_epoch": 2, "seed": seed}
    Tokenizer.train(TRAIN, DEV, progress=False, checkpoint=checkpoint, **{**small, "epochs": 1})
    assert checkpoint.is_file()
    lines = []
    Tokenizer.train(TRAIN, DEV, progress=lines.append, checkpoint=str(checkpoint),
                    **{**small, "epochs": 2})
    assert any("resumed" in line for line in lines), lines
    assert not any(line.startswith("epoch 1 ") for line in lines), "epoch 1 was trained again"
    assert any("epoch 2" in line for line in lines), lines


def test_ensemble_of_two_tokenizers(tok, dev_texts, tmp_path):
    """Tokenizer.ensemble averages trained tokenizers (one without dictionary features
    here); it saves and loads as one model, and its members are left as they were."""
    without = Tokenizer.train(TRAIN, DEV, dictionary_max_length=0, progress=False,
                              **{**TINY, "epochs": 1, "max_batches_per_epoch": 3, "seed": 4})
    before = without.cut_many(dev_texts)
    ensemble = Tokenizer.ensemble([tok, without])
    cut = ensemble.cut_many(dev_texts)
    assert ["".join(words) for words in cut] == dev_texts
    assert without.cut_many(dev_texts) == before
    path = tmp_path / "ensemble.safetensors"
    ensemble.save(path)
    data = path.read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    assert header["__metadata__"]["members"] == "2"
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}
    assert Tokenizer.load(path).cut_many(dev_texts) == cut
    assert len(Tokenizer.ensemble(iter([ensemble, tok])).cut("今天天气很好。")) >= 1  # any iterable


def test_ensemble_bad_arguments(tok):
    with pytest.raises(ValueError, match="at least two"):
        Tokenizer.ensemble([tok])
    with pytest.raises(ValueError, match="at least two"):
        Tokenizer.ensemble([])
    with pytest.raises(TypeError, match=r"tokenizers\[1\] is str"):
        Tokenizer.ensemble([tok, "model.safetensors"])
    with pytest.raises(TypeError, match="not a string"):
        Tokenizer.ensemble("ab")
    with pytest.raises(TypeError):
        Tokenizer.ensemble(3)
    other = Tokenizer.train(TRAIN, DEV, progress=False,
                            **{**TINY, "epochs": 1, "max_batches_per_epoch": 1, "min_bigram_count": 2})
    with pytest.raises(ValueError, match="bigrams"):
        Tokenizer.ensemble([tok, other])


def test_gil_is_released_during_training():
    """Between two progress lines (the callback holds the GIL) other threads run."""
    ticks = 0
    started = threading.Event()
    stop = threading.Event()
    seen = []

    def counter():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            started.set()

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        started.wait()
        Tokenizer.train(TRAIN, DEV, progress=lambda line: seen.append(ticks),
                        **{**TINY, "max_batches_per_epoch": 4})
    finally:
        stop.set()
        thread.join()
    assert len(seen) >= 3
    assert seen[-1] > seen[0], "no other thread ran while the library trained"


@pytest.mark.parametrize(
    "name, value, exception",
    [
        ("epochs", 0, ValueError),
        ("epochs", 1.5, TypeError),
        ("epochs", True, TypeError),
        ("epochs", 2**31, ValueError),
        ("batch_size", 0, ValueError),
        ("batch_size", "32", TypeError),
        ("learning_rate", 0.0, ValueError),
        ("learning_rate", -0.1, ValueError),
        ("learning_rate", float("nan"), ValueError),
        ("learning_rate", float("inf"), ValueError),
        ("learning_rate", "0.1", TypeError),
        ("hidden_size", 0, ValueError),
        ("hidden_size", 4097, ValueError),
        ("num_layers", 0, ValueError),
        ("num_layers", 17, ValueError),
        ("char_dim", 0, ValueError),
        ("char_dim", None, TypeError),
        ("bigram_dim", -1, ValueError),
        ("min_bigram_count", 0, ValueError),
        ("dictionary_max_length", -1, ValueError),
        ("dictionary_max_length", 17, ValueError),
        ("dropout", 1.0, ValueError),
        ("dropout", -0.01, ValueError),
        ("dropout", float("nan"), ValueError),
        ("dropout", [0.1], TypeError),
        ("label_smoothing", 1.0, ValueError),
        ("label_smoothing", float("nan"), ValueError),
        ("patience", 0, ValueError),
        ("threads", 0, ValueError),
        ("max_batches_per_epoch", -1, ValueError),
        ("seed", -1, ValueError),
        ("seed", 2**64, ValueError),
        ("seed", 1.0, TypeError),
        ("checkpoint", 5, TypeError),
        ("progress", "yes", TypeError),
        ("lexicon", 5, TypeError),
        ("lexicon", ["中国", 3], TypeError),
        ("lexicon", ["中国", "人 民"], ValueError),
        ("lexicon", ["中国", ""], ValueError),
        ("lexicon", ["\ud800中"], ValueError),
        ("lexicon", [], ValueError),
        ("lexicon_max_length", 1, ValueError),
        ("lexicon_max_length", 17, ValueError),
        ("lexicon_max_length", 4.0, TypeError),
        ("dictionary_min_count", 0, ValueError),
        ("average_decay", 1.0, ValueError),
        ("average_decay", -0.1, ValueError),
        ("average_decay", float("nan"), ValueError),
    ],
)
def test_train_bad_arguments(name, value, exception):
    # lexicon_max_length applies (and is checked) with a lexicon only
    lexicon = {"lexicon": ["中国"]} if name == "lexicon_max_length" else {}
    with pytest.raises(exception, match=name):
        Tokenizer.train(TRAIN, DEV, **{**TINY, **lexicon, name: value})


@pytest.mark.parametrize(
    "train, exception, match",
    [
        ([], ValueError, "train holds no sentences"),
        ([[], ""], ValueError, "train holds no sentences"),
        ([["中国", "人民"], ["a b"]], ValueError, r"train\[1\]\[0\].*whitespace"),
        ([["中国", ""]], ValueError, r"train\[0\]\[1\] is an empty word"),
        ([["中国", 3]], TypeError, r"train\[0\]\[1\] must be a str"),
        ([3], TypeError, r"train\[0\] must be a list of words or a str"),
        ([["中国"], ["中\ud800国"]], ValueError, r"train\[1\] cannot be encoded.*U\+D800 at index 1"),
        (42, TypeError, "train must be a path"),
        (bytearray(b"x"), TypeError, "train must be a path"),
    ],
)
def test_train_bad_corpora(train, exception, match):
    with pytest.raises(exception, match=match):
        Tokenizer.train(train, DEV, **TINY)


def test_train_corpus_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Tokenizer.train(tmp_path / "missing.txt", DEV, **TINY)
    bad = tmp_path / "bad.txt"
    bad.write_bytes("中国 人民\n".encode() + b"\xff\xfe oops\n")
    with pytest.raises(ValueError, match=r"train is not valid UTF-8 \(at byte 14\)"):
        Tokenizer.train(bad, DEV, **TINY)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="dev corpus has no sentences"):
        Tokenizer.train(TRAIN, empty, **TINY)
    with pytest.raises(ValueError, match="dev holds no sentences"):
        Tokenizer.train(TRAIN, [], **TINY)


def test_tokenizer_cannot_be_constructed_directly():
    with pytest.raises(TypeError, match="Tokenizer.load"):
        Tokenizer()


# -- cut and tag -----------------------------------------------------------------------

TRICKY = [
    "",
    " ",
    "   ",
    "\n",
    "\n\t",
    "\r\n",
    "\t \n \r\n\x0b\x0c",
    "今天天气很好。",
    "  前后 有 空格  ",
    "中文English混合123 and ４５６ＡＢＣ，全角！",
    "ｈｅｌｌｏ　ｗｏｒｌｄ",  # full-width letters and the ideographic space
    "3.1415926和1,000,000元",
    "👍🏽👍",
    "家人👨‍👩‍👧‍👦在一起",  # a ZWJ sequence
    "🇨🇳🇺🇸国旗",  # regional-indicator flags
    "e\u0301te\u0301",  # combining marks
    "\u0301开头是组合符",
    "a\u0301\u0302\u0303\u0304",
    "控制字符\x01\x02\x1b\x7f",
    "\x00",
    "中\x00国\x00",
    "\ufeff带BOM",
    "\u2028\u2029段落",
    "\x1c\x1d\x1e\x1f分隔符",
    "𠀀𠀁𪚥汉字扩展",  # non-BMP ideographs
    "\ue000私用区\U000f0000",
    "。。。！？……",
    "“引号”（括号）《书名》",
    "a" * 1000,
    "中" * 700,
    "，" * 400,
    "x\u200by\u200dz",  # zero-width space and joiner
    "العربية עברית русский ελληνικά",
    "\r\r\n\n\r",
]


@pytest.mark.parametrize("text", TRICKY, ids=[repr(t[:12]) for t in TRICKY])
def test_cut_covers_tricky_texts(tok, text):
    tokens = check_tokens(tok, text)
    if not text:
        assert tokens == []


def test_cut_examples(tok):
    assert tok.cut("") == []
    assert tok.tag("") == []
    assert tok.cut(" ") == [" "]
    assert tok.cut("\n\t") == ["\n\t"]
    assert tok.cut("中") == ["中"]
    assert tok.tag("中") == ["S"]


def test_whitespace_runs_are_tokens(tok):
    text = "今天  天气\t很好\n\n明天 "
    tokens = check_tokens(tok, text)
    for ws in ["  ", "\t", "\n\n", " "]:
        assert ws in tokens
    for t in tokens:
        assert t.isspace() or not any(c in " \t\n" for c in t), tokens
    assert tokens[-1] == " "


def test_tag_is_derived_from_cut(tok, dev_texts):
    for text in dev_texts[:10] + ["今天 天气\t很好", "👨‍👩‍👧‍👦好"]:
        expected = []
        for token in tok.cut(text):
            n = len(token)
            if n == 1 or token.isspace():
                expected += ["S"] * n
            else:
                expected += ["B"] + ["M"] * (n - 2) + ["E"]
        assert tok.tag(text) == expected
    # whitespace characters get "S"
    tags = tok.tag("a  b")
    assert tags[1:3] == ["S", "S"]


def test_long_line_equals_its_sentences(tok, dev_texts):
    """A 120,000-character line gives exactly the tokens of its sentences, cut one by one."""
    sentences = [s for s in dev_texts if s.endswith("。") and s[0] not in "。！？!?；;…"]
    assert sentences
    used = []
    length = 0
    while length < 120_000:
        s = sentences[len(used) % len(sentences)]
        used.append(s)
        length += len(s)
    line = "".join(used)
    assert len(line) >= 120_000
    tokens = check_tokens(tok, line)
    one_by_one = [t for s in used for t in tok.cut(s)]
    assert tokens == one_by_one
    batched = [t for ts in tok.cut_many(used) for t in ts]
    assert batched == one_by_one


def test_cut_many_equals_cut(tok, dev_texts):
    texts = dev_texts + TRICKY + ["", "中", " "]
    expected = [tok.cut(t) for t in texts]
    assert tok.cut_many(texts) == expected
    assert tok.cut_many(texts, threads=1) == expected
    assert tok.cut_many(texts, threads=4) == expected
    assert tok.cut_many(tuple(texts)) == expected
    assert tok.cut_many(t for t in texts) == expected  # any iterable
    assert tok.cut_many([]) == []
    assert tok.cut_many(iter([])) == []
    assert tok.cut_many([""]) == [[]]


def test_cut_is_deterministic(tok, dev_texts):
    first = tok.cut_many(dev_texts)
    for _ in range(3):
        assert tok.cut_many(dev_texts) == first


@settings(deadline=None, max_examples=300)
@given(text=st.text(max_size=300))
def test_cut_covers_random_text(trained, text):
    tok = trained[0]
    check_tokens(tok, text)


@settings(deadline=None, max_examples=60)
@given(texts=st.lists(st.text(max_size=80), max_size=6), threads=st.integers(1, 4))
def test_cut_many_matches_cut_on_random_texts(trained, texts, threads):
    tok = trained[0]
    assert tok.cut_many(texts, threads=threads) == [tok.cut(t) for t in texts]


@settings(deadline=None, max_examples=100)
@given(text=st.text(alphabet=st.characters(codec="utf-8", categories=["Lo", "Zs", "Cc", "Po", "Nd"]),
                    max_size=200))
def test_cut_covers_random_cjk_like_text(trained, text):
    check_tokens(trained[0], text)


# -- bad arguments ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["list"], 1.5])
def test_cut_needs_a_str(tok, bad):
    with pytest.raises(TypeError, match="text must be a str"):
        tok.cut(bad)
    with pytest.raises(TypeError, match="text must be a str"):
        tok.tag(bad)


def test_lone_surrogates_are_refused(tok):
    with pytest.raises(ValueError, match=r"text cannot be encoded as UTF-8.*U\+D800 at index 2"):
        tok.cut("ab\ud800c")
    with pytest.raises(ValueError, match=r"texts\[1\] cannot be encoded.*U\+DC00 at index 1"):
        tok.cut_many(["ok", "x\udc00"])
    with pytest.raises(ValueError, match=r"words\[1\] cannot be encoded"):
        tok.add_words(["好", "\udfff"])
    assert tok.word_count == 0, "a refused add_words added words"


@pytest.mark.parametrize(
    "texts, exception, match",
    [
        ("a str", TypeError, "texts must be an iterable of str, not a str"),
        (b"bytes", TypeError, "texts must be an iterable of str"),
        (3, TypeError, "texts must be an iterable of str"),
        (None, TypeError, "texts must be an iterable of str"),
        (["ok", 3], TypeError, r"texts\[1\] must be a str, got int"),
        ([b"x"], TypeError, r"texts\[0\] must be a str, got bytes"),
    ],
)
def test_cut_many_bad_texts(tok, texts, exception, match):
    with pytest.raises(exception, match=match):
        tok.cut_many(texts)


@pytest.mark.parametrize(
    "threads, exception",
    [(0, ValueError), (-1, ValueError), (2**31, ValueError), (1.0, TypeError),
     ("2", TypeError), (True, TypeError), (None, TypeError)],
)
def test_cut_many_bad_threads(tok, threads, exception):
    with pytest.raises(exception, match="threads"):
        tok.cut_many(["中国"], threads=threads)


@pytest.mark.parametrize(
    "words, exception, match",
    [
        (3, TypeError, "words must be a str or an iterable of str"),
        (None, TypeError, "words must be a str or an iterable of str"),
        (b"bytes", TypeError, "words must be a str or an iterable of str"),
        (["好", 3], TypeError, r"words\[1\] must be a str"),
        (["好", "a\x00b"], ValueError, r"words\[1\] contains a NUL"),
    ],
)
def test_add_words_bad_arguments(tok, words, exception, match):
    with pytest.raises(exception, match=match):
        tok.add_words(words)
    assert tok.word_count == 0


@pytest.mark.parametrize("bad", [None, 3, 1.5, ["path"]])
def test_bad_path_types(tok, bad):
    if bad is not None:  # load(None) is the bundled model
        with pytest.raises(TypeError, match="path must be a path"):
            Tokenizer.load(bad)
    with pytest.raises(TypeError, match="path must be a path"):
        tok.save(bad)
    with pytest.raises(TypeError, match="path must be a path"):
        tok.load_dictionary(bad)


# -- user words ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_word(trained):
    """(word, sentence): a 3-4 character word of the dev text that the tiny model cuts
    into several tokens in its sentence."""
    tok = trained[0]
    for words in read_lines(DEV) + read_lines(TRAIN):
        sentence = "".join(words)
        tokens = tok.cut(sentence)
        for w in words:
            if 3 <= len(w) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in w) and w not in tokens:
                return w, sentence
    pytest.fail("the tiny model cuts every 3-4 character word of the fixtures whole")


def test_user_word_comes_out_whole(tok, split_word, dev_texts):
    word, sentence = split_word
    before = tok.cut(sentence)
    assert word not in before
    others = [t for t in dev_texts + TRICKY if word not in t]
    others_before = tok.cut_many(others)

    tok.add_words([word])
    assert tok.word_count == 1
    after = check_tokens(tok, sentence)
    assert word in after
    assert after.count(word) == sentence.count(word)
    # Texts without the word are segmented exactly as before.
    assert tok.cut_many(others) == others_before
    # Everywhere it occurs, also in new texts.
    text = f"开头{word}，中间{word}{word}结尾"
    assert check_tokens(tok, text).count(word) == 3

    tok.clear_words()
    assert tok.word_count == 0
    assert tok.cut(sentence) == before
    assert tok.cut_many(others) == others_before


def test_add_words_forms(tok, split_word):
    word, sentence = split_word
    tok.add_words(word)  # one str is one word
    assert tok.word_count == 1
    assert word in tok.cut(sentence)
    tok.add_words([word, word])  # duplicates count once
    assert tok.word_count == 1
    tok.add_words(w for w in ["北京大学", "天安门广场"])  # any iterable
    assert tok.word_count == 3
    tok.add_words(("中关村",))
    assert tok.word_count == 4


def test_empty_dictionary_is_fine(tok, dev_texts, tmp_path):
    before = tok.cut_many(dev_texts)
    tok.add_words([])
    tok.add_words("")
    tok.add_words(["", "  ", "\t"])  # empty and whitespace-only entries are skipped
    assert tok.word_count == 0
    empty = tmp_path / "empty.dict"
    empty.write_text("", encoding="utf-8")
    tok.load_dictionary(empty)
    tok.clear_words()
    tok.clear_words()
    assert tok.word_count == 0
    assert tok.cut_many(dev_texts) == before


def test_load_dictionary_jieba_format(tok, split_word, tmp_path):
    word, sentence = split_word
    path = tmp_path / "user.dict"
    path.write_text(f"{word} 3 n\n北京大学 20 nt\n\n天安门广场\t5\tns\n中关村\n", encoding="utf-8")
    tok.load_dictionary(path)
    assert tok.word_count == 4
    assert word in tok.cut(sentence)
    assert "北京大学" in tok.cut("我在北京大学读书")
    tok.load_dictionary(str(path))  # again: no duplicates
    assert tok.word_count == 4


def test_load_dictionary_errors(tok, tmp_path):
    with pytest.raises(OSError):
        tok.load_dictionary(tmp_path / "missing.dict")
    with pytest.raises(OSError):
        tok.load_dictionary(tmp_path)  # a directory
    bad = tmp_path / "bad.dict"
    bad.write_bytes(b"\xff\xfe\n")
    with pytest.raises(ValueError, match="UTF-8"):
        tok.load_dictionary(bad)
    assert tok.word_count == 0


# -- files -----------------------------------------------------------------------------


def test_save_load_round_trip(tok, dev_texts, tmp_path, split_word):
    path = tmp_path / "tok.safetensors"
    tok.add_words([split_word[0]])
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.word_count == 0, "user words are not part of the model file"
    tok.clear_words()
    texts = dev_texts + TRICKY
    assert loaded.cut_many(texts) == tok.cut_many(texts)
    # str and bytes paths work too
    loaded.save(str(tmp_path / "again.safetensors"))
    again = Tokenizer.load(os.fsencode(tmp_path / "again.safetensors"))
    assert again.cut_many(texts) == tok.cut_many(texts)
    assert sorted(os.listdir(tmp_path)) == ["again.safetensors", "tok.safetensors"]


def test_save_errors(tok, tmp_path):
    with pytest.raises(OSError):
        tok.save(tmp_path / "no" / "such" / "dir.safetensors")
    with pytest.raises(OSError):
        tok.save(tmp_path)  # a directory


def test_load_errors(tmp_path):
    with pytest.raises(OSError):
        Tokenizer.load(tmp_path / "missing.safetensors")
    with pytest.raises(OSError):
        Tokenizer.load(tmp_path)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a model file at all" * 10)
    with pytest.raises(ModelFormatError):
        Tokenizer.load(garbage)
    with pytest.raises(ValueError):
        Tokenizer.load(garbage)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ValueError):
        Tokenizer.load(empty)


def test_lstm_file_is_not_a_tokenizer(tok, tmp_path):
    lstm_path = tmp_path / "lstm.safetensors"
    lstmkit.LSTM(3, 4).save(lstm_path)
    with pytest.raises(ModelFormatError) as info:
        Tokenizer.load(lstm_path)
    message = str(info.value)
    assert "lstm" in message and "tokenizer" in message, message
    # and the other way round
    tok_path = tmp_path / "tok.safetensors"
    tok.save(tok_path)
    with pytest.raises(ModelFormatError) as info:
        lstmkit.load(tok_path)
    message = str(info.value)
    assert "lstm" in message and "tokenizer" in message, message


def test_truncated_tokenizer_file(tok, tmp_path):
    path = tmp_path / "tok.safetensors"
    tok.save(path)
    data = path.read_bytes()
    for cut in [8, len(data) // 2, len(data) - 1]:
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            Tokenizer.load(bad)


# -- threads ---------------------------------------------------------------------------


def test_threads_share_one_tokenizer(tok, dev_texts):
    chunks = [dev_texts[i::4] + TRICKY[i::4] for i in range(4)]
    expected = [tok.cut_many(c, threads=1) for c in chunks]
    results = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def worker(index):
        start.wait()
        for _ in range(5):
            results[index].append(tok.cut_many(chunks[index], threads=2))

    run_threads(worker, 4)
    for index in range(4):
        for result in results[index]:
            assert result == expected[index]


def test_add_words_while_other_threads_cut(tok, split_word):
    """Writers (add_words, clear_words) and readers (cut) never overlap: every cut sees
    the dictionary either with or without the word."""
    word, sentence = split_word
    without = tok.cut(sentence)
    tok.add_words([word])
    with_word = tok.cut(sentence)
    tok.clear_words()
    assert with_word != without
    seen = []
    stop = threading.Event()

    def worker(index):
        if index == 0:
            while len(seen) < 2:
                time.sleep(0.001)
            for i in range(50):
                if i % 2:
                    tok.clear_words()
                else:
                    tok.add_words([word])
            stop.set()
        else:
            while not stop.is_set():
                seen.append(tok.cut(sentence))

    run_threads(worker, 3)
    assert len(seen) >= 2
    for tokens in seen:
        assert tokens == without or tokens == with_word


# -- the bundled model -----------------------------------------------------------------


def f1(gold_words, predicted_words):
    def spans(words):
        out, at = set(), 0
        for w in words:
            out.add((at, at + len(w)))
            at += len(w)
        return out

    gold, pred = spans(gold_words), spans(predicted_words)
    correct = len(gold & pred)
    if not correct:
        return 0.0
    p, r = correct / len(pred), correct / len(gold)
    return 2 * p * r / (p + r)


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(),
                    reason=f"this lstmkit has no bundled model ({BUNDLED_MODEL} is missing: "
                           f"models/tokenizer-pku.safetensors was not in the repository at build time)")
def test_bundled_model():
    tok = Tokenizer.load()
    text = "我爱北京天安门。"
    tokens = check_tokens(tok, text)
    assert "北京" in tokens, tokens
    assert "经济" in tok.cut("发展经济"), tok.cut("发展经济")
    assert "中国" in tok.cut("中国是一个历史悠久的国家。")
    # Quality on held-out PKU sentences (the fixture's test lines).
    gold = read_lines(TEST)
    predicted = tok.cut_many(["".join(words) for words in gold])
    gold_all = [w for words in gold for w in words]
    pred_all = [w for words in predicted for w in words]
    score = f1(gold_all, pred_all)
    assert score >= 0.9, f"F1 {score:.3f} on the fixture's test lines"


@pytest.mark.skipif(not BUNDLED_MODELS["tokenizer-pku-large"].is_file(),
                    reason="this lstmkit has no tokenizer-pku-large (not in the repository at build time)")
def test_bundled_models_by_name(tmp_path, monkeypatch):
    large = Tokenizer.load("tokenizer-pku-large")
    assert large.cut("我爱北京天安门。") == Tokenizer.load(BUNDLED_MODELS["tokenizer-pku-large"]).cut("我爱北京天安门。")
    gold = read_lines(TEST)
    predicted = large.cut_many(["".join(words) for words in gold])
    assert f1([w for ws in gold for w in ws], [w for ws in predicted for w in ws]) >= 0.9
    assert Tokenizer.load("tokenizer-pku").cut("发展经济") == Tokenizer.load().cut("发展经济")
    # A file of that name comes first: here it is not a model, so loading it fails.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tokenizer-pku-large").write_bytes(b"not a model")
    with pytest.raises(lstmkit.ModelFormatError):
        Tokenizer.load("tokenizer-pku-large")
    with pytest.raises(OSError, match="cannot open tokenizer-pku-small"):
        Tokenizer.load("tokenizer-pku-small")   # neither a file nor a bundled name


@needs_cli
@pytest.mark.skipif(not BUNDLED_MODELS["tokenizer-pku-large"].is_file(),
                    reason="this lstmkit has no tokenizer-pku-large (not in the repository at build time)")
def test_cli_takes_a_bundled_models_name(tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("我爱北京天安门\n", encoding="utf-8")
    assert cli("segment", "--model", "tokenizer-pku-large", text).stdout == "我 爱 北京 天安门\n"
    assert "tokenizer-pku-huge" in cli_error("segment", "--model", "tokenizer-pku-huge", text)


@pytest.mark.skipif(BUNDLED_MODEL.is_file(), reason="this lstmkit has a bundled model")
def test_missing_bundled_model_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="bundled tokenizer model is missing.*pass the path"):
        Tokenizer.load()


def test_pickle_and_copy_carry_the_model_and_user_words():
    # issue 17: Tokenizer could not be pickled, and copy.copy shared the native model
    import copy
    import pickle
    tok = lstmkit.Tokenizer.load()
    tok.add_words(["北京大学读书", "ＡＢＣ词"])
    assert tok.user_words == sorted(["北京大学读书", "ABC词"])  # kept normalised
    text = "在北京大学读书的日子里ＡＢＣ词"
    for other in (pickle.loads(pickle.dumps(tok)), copy.copy(tok), copy.deepcopy(tok)):
        assert other.cut(text) == tok.cut(text)
        assert other.user_words == tok.user_words
        other.add_words(["日子里"])
        assert tok.word_count == 2  # the copy is independent
    assert lstmkit.Tokenizer.load().user_words == []
