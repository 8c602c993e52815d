"""HS and NS against hand-computed values (PROTOCOLS.md §1.2), and the config's guards."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ValidationError

from apps.humor import scores
from apps.humor.tasktype import HUMOR

# A reference distribution over all seven reactions (sums to 1).
S = {"like": 0.5, "love": 0.1, "care": 0.05, "haha": 0.1, "wow": 0.05, "sad": 0.1, "angry": 0.1}


def test_a_post_nobody_reacted_to_has_hs_zero_and_no_ns():
    assert scores.humor_score(0, 0) == 0.0
    assert scores.non_humor_score({}, t=0, standard=S, version="ns_v_slides") is None


def test_hs_of_a_post_with_only_haha_is_the_damping_factor():
    # h = t = 50: HS = 1 · tanh(1) = 0.761594…
    assert scores.humor_score(50, 50) == pytest.approx(0.7615941559557649)


def test_hs_damps_the_haha_share_by_tanh_of_t_over_50():
    # h = 10, t = 100: HS = 0.1 · tanh(2) = 0.1 · 0.964028 = 0.0964028
    assert scores.humor_score(10, 100) == pytest.approx(0.0964027580)
    assert scores.humor_score(1, 1) == pytest.approx(math.tanh(1 / 50))


def test_ns_of_a_haha_only_post_in_each_version():
    # t = 10, O(haha) = 1, others 0. Squared differences: like .25, love .01, care .0025,
    # haha .81, wow .0025, sad .01, angry .01 → sum 1.095, MSE = 1.095 / 7 = 0.156428571.
    counts = {"haha": 10}
    mse = 1.095 / 7
    assert scores.reaction_mse(scores.shares(counts, S, 10), S) == pytest.approx(mse)
    # slides: −ln(tanh(0.2) · 0.156428571) = −ln(0.197375 · 0.156429) = 3.477804
    assert scores.non_humor_score(counts, t=10, standard=S, version="ns_v_slides") == (
        pytest.approx(3.47780397, abs=1e-7)
    )
    # alt1: tanh(0.2) · (−ln 0.156429) = 0.197375 · 1.855170 = 0.366162
    assert scores.non_humor_score(counts, t=10, standard=S, version="ns_v_alt1") == (
        pytest.approx(0.36616197, abs=1e-7)
    )
    # alt2: −ln(0.156429 / 0.197375) = 0.232508
    assert scores.non_humor_score(counts, t=10, standard=S, version="ns_v_alt2") == (
        pytest.approx(0.23250760, abs=1e-7)
    )


def test_a_post_matching_the_reference_distribution_gets_a_finite_ns_through_the_epsilon():
    counts = {r: round(share * 100) for r, share in S.items()}  # t = 100, O = S exactly
    t = scores.reaction_total(counts, scores.REACTIONS)
    assert t == 100
    assert scores.reaction_mse(scores.shares(counts, S, t), S) == pytest.approx(0.0, abs=1e-15)
    # MSE clamped to 1e-12: −ln(tanh(2) · 1e-12) = 27.631021 + 0.036626 = 27.667656
    assert scores.non_humor_score(counts, t=t, standard=S, version="ns_v_slides") == (
        pytest.approx(27.6676565, abs=1e-6)
    )
    # …and a post far from S scores lower: NS ranks "looks like an average post".
    far = scores.non_humor_score({"haha": 100}, t=100, standard=S, version="ns_v_slides")
    assert far < 27.0


def test_the_reference_distribution_is_micro_or_macro_averaged():
    acc = scores.ReferenceAccumulator(
        reactions=("like", "haha", "sad"), counted=("like", "haha", "sad")
    )
    acc.add({"like": 3, "haha": 1})  # t = 4
    acc.add({"like": 1, "sad": 1})  # t = 2
    acc.add({})  # t = 0: no shares, left out
    micro = acc.result("micro")
    assert micro == pytest.approx({"like": 4 / 6, "haha": 1 / 6, "sad": 1 / 6})
    macro = acc.result("macro")
    assert macro == pytest.approx({"like": (0.75 + 0.5) / 2, "haha": 0.125, "sad": 0.25})
    assert acc.posts == 2


def test_likes_can_be_left_out_of_t():
    counted = scores.counted_reactions(["love", "haha", "sad"], likes_in_total=False)
    assert counted == ("love", "haha", "sad")
    assert scores.reaction_total({"like": 100, "haha": 5, "sad": 5}, counted) == 10
    assert scores.counted_reactions(["haha"], likes_in_total=True) == ("like", "haha")


def test_the_s_version_names_the_distribution_and_its_choices():
    a = scores.s_version(S, average="micro", counted=scores.REACTIONS, posts=10)
    assert a.startswith("S-micro-")
    assert a == scores.s_version(dict(S), average="micro", counted=scores.REACTIONS, posts=10)
    assert a != scores.s_version(S, average="micro", counted=scores.REACTIONS, posts=11)


def test_the_config_refuses_like_in_r_when_likes_are_not_counted_in_t():
    with pytest.raises(ValidationError) as exc:
        HUMOR.clean_config({"likes_in_total": False})
    assert "Like is in R but not counted in t" in str(exc.value)


def test_the_config_names_each_bad_field():
    with pytest.raises(ValidationError) as exc:
        HUMOR.clean_config({"reactions": ["like", "sad"], "ns_version": "ns_v9", "k": 0})
    fields = exc.value.fields  # each message on the field it is about
    assert "haha" in " ".join(fields["reactions"])
    assert "ns_v_slides" in " ".join(fields["ns_version"])
    assert "greater than or equal to 1" in " ".join(fields["k"])


def test_default_config_round_trips():
    config = HUMOR.default_config()
    assert HUMOR.clean_config(config) == config
    assert config["reactions"] == list(scores.REACTIONS)
    assert config["s_average"] == "micro" and config["negative_rule"] == "top_NS"
