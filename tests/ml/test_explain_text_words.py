"""Words, token-to-word mapping, erasing words and top-k: the shared vocabulary of rationales."""

from __future__ import annotations

import subprocess
import sys

from ml.explain_text import only_words, split_words, token_words, top_k_tokens, without_words


def test_words_keep_contractions_and_split_off_punctuation_with_offsets():
    text = "I can't   stop, lol!!  well-known 😂"
    words = split_words(text)
    assert [w.text for w in words] == ["I", "can't", "stop", ",", "lol", "!!", "well-known", "😂"]
    assert [w.index for w in words] == list(range(8))
    for w in words:
        assert text[w.start : w.end] == w.text
    assert (words[2].start, words[2].end) == (10, 14)
    assert split_words("   ") == []


def test_tokens_map_to_the_word_their_offsets_fall_in():
    words = split_words("unbelievably funny!")  # (0,12) (13,18) (18,19)
    offsets = [(0, 0), (0, 2), (2, 5), (5, 12), (13, 18), (18, 19), (0, 0)]
    assert token_words(offsets, words) == [None, 0, 0, 0, 1, 2, None]
    # A BPE token that carries its leading space still lands on its word.
    assert token_words([(0, 12), (12, 18)], words) == [0, 1]


def test_erasing_words_keeps_the_rest_of_the_text_and_keeping_words_joins_them():
    text = "that was haha, so funny"
    words = split_words(text)  # that was haha , so funny
    assert without_words(text, words, {2}) == "that was , so funny"
    assert without_words(text, words, {0, 5}) == " was haha, so "
    assert without_words(text, words, set()) == text
    assert only_words(text, words, {4, 2}) == "haha so"
    assert only_words(text, words, set()) == ""


def test_top_k_is_best_first_with_ties_to_the_earlier_word():
    assert top_k_tokens([0.1, 0.5, 0.5, -2.0], 2) == [1, 2]
    assert top_k_tokens([0.1, 0.5, 0.5, -2.0], 9) == [1, 2, 0, 3]
    assert top_k_tokens([0.3], 0) == [] and top_k_tokens([], 3) == []


def test_the_package_imports_without_torch_for_the_web_process():
    code = "import sys, ml.explain_text; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
