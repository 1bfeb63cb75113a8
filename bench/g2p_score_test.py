"""pytest: bench/g2p_score.py's WER and PER on hand-made cases, and g2p_data's parsing
and split."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g2p_data  # noqa: E402
from g2p_score import edit_distance, score  # noqa: E402


def test_edit_distance():
    assert edit_distance([], []) == 0
    assert edit_distance([], ["A"]) == 1
    assert edit_distance(["A", "B"], []) == 2
    assert edit_distance(["K", "AE1", "T"], ["K", "AE1", "T"]) == 0
    assert edit_distance(["K", "AE1", "T"], ["K", "AH0", "T"]) == 1            # substitution
    assert edit_distance(["K", "AE1", "T"], ["K", "AE1", "T", "S"]) == 1       # insertion
    assert edit_distance(["S", "K", "AE1", "T"], ["K", "AE1", "T"]) == 1       # deletion
    assert edit_distance(["A", "B", "C", "D"], ["B", "C", "D", "A"]) == 2      # not a swap count


def test_right_if_any_reference_matches():
    refs = {"either": ["IY1 DH ER0", "AY1 DH ER0"], "cat": ["K AE1 T"]}
    s = score(refs, {"either": "AY1 DH ER0", "cat": "K AE1 T"})
    assert (s["words"], s["word_errors"], s["wer"]) == (2, 0, 0.0)
    assert (s["phoneme_errors"], s["per"]) == (0, 0.0)


def test_stress_counts_and_per_uses_the_closest_reference():
    refs = {"either": ["IY1 DH ER0", "AY1 DH ER0 Z"], "cat": ["K AE1 T"], "dog": ["D AO1 G"]}
    # either: 1 edit from the first reference (length 3), 3 from the second (length 4);
    # cat: stress wrong (1 edit); dog: right.
    s = score(refs, {"either": "IY1 DH ER1", "cat": "K AE0 T", "dog": "D AO1 G"})
    assert s["word_errors"] == 2 and s["wer"] == pytest.approx(2 / 3)
    assert s["phoneme_errors"] == 2 and s["reference_phonemes"] == 3 + 3 + 3
    assert s["per"] == pytest.approx(2 / 9)


def test_ties_take_the_first_reference_and_missing_predictions_are_wrong():
    # Both references are 1 edit away: the first one's length (2) is the denominator.
    # "A B Z" is 1 insertion from "A B" and 1 substitution from "A B C": a tie; y has
    # no prediction: 3 deletions.
    s = score({"x": ["A B", "A B C"], "y": ["D E F"]}, {"x": "A B Z"})
    assert s["phoneme_errors"] == 1 + 3 and s["reference_phonemes"] == 2 + 3
    assert s["word_errors"] == 2


def test_lists_and_strings_agree():
    refs = {"a": [["EY1"], ["AH0"]]}
    assert score(refs, {"a": ["AH0"]}) == score({"a": ["EY1", "AH0"]}, {"a": "AH0"})


def test_a_word_without_reference_is_refused():
    with pytest.raises(ValueError):
        score({"a": []}, {"a": "EY1"})


def test_parse_drops_variant_markers_comments_and_repeats():
    entries, prons = g2p_data.parse("a AH0\na(2) EY1\naalborg AO1 L B AO0 R G # place, danish\n"
                                    "b(2) B IY1\nb B IY1\n\n# just a comment\nx(1)y EH1\n")
    assert entries == 6
    assert prons == {"a": ["AH0", "EY1"], "aalborg": ["AO1 L B AO0 R G"], "b": ["B IY1"], "x(1)y": ["EH1"]}


def test_split_is_sha1_of_the_word_mod_20():
    import hashlib
    for w in ["a", "hello", "'bout", "zywicki", "über"]:
        b = int(hashlib.sha1(w.encode("utf-8")).hexdigest(), 16) % 20
        assert g2p_data.split_of(w) == ("test" if b == 0 else "dev" if b == 1 else "train")
    assert {g2p_data.split_of(f"w{i}") for i in range(200)} == {"train", "dev", "test"}


def test_the_fixture_slice_follows_the_split():
    fixtures = os.path.join(g2p_data.REPO, "Tests", "Fixtures", "g2p")
    for name, split in (("train.tsv", "train"), ("dev.tsv", "dev"), ("dev.refs.tsv", "dev")):
        with open(os.path.join(fixtures, name), encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        assert rows and all(len(r) >= 2 and g2p_data.split_of(r[0]) == split for r in rows), name
