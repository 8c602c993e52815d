"""CHoRaL reaction scores as named, versioned functions (PROTOCOLS.md §1.2).

Nothing here touches the database: the services feed counts in and store what comes out.

* ``t`` — total reactions over the *counted* reactions (R, plus Like when Likes count in t);
* ``h`` — the Haha count;
* **HS** ``= (h / t) · tanh(t / 50)``; t = 0 → 0;
* **NS** compares a post's reaction shares O(r) = count_r / t with the corpus' reference
  distribution S(r), through ``MSE = (1/|R|) Σ_{r∈R} (S(r) − O(r))²``. The paper's exact
  equation is unverified (PROTOCOLS.md §1.2 ⚠), so every form is a named function and the
  name is stored beside every NS value. t = 0 → NS is None; MSE = 0 → clamped to ε.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

REACTIONS: tuple[str, ...] = ("like", "love", "care", "haha", "wow", "sad", "angry")
DAMPING = 50.0  # the slides' tanh(t / 50): above ~100 reactions the damping is negligible
EPSILON = 1e-12  # MSE floor, so a post matching S exactly gets a finite NS


def damping(t: int) -> float:
    return math.tanh(t / DAMPING)


def counted_reactions(reactions: Sequence[str], *, likes_in_total: bool) -> tuple[str, ...]:
    """The reactions summed into t: R, plus Like when Likes count in t (in REACTIONS order)."""
    wanted = set(reactions) | ({"like"} if likes_in_total else set())
    return tuple(r for r in REACTIONS if r in wanted)


def reaction_total(counts: Mapping[str, int], counted: Iterable[str]) -> int:
    return sum(int(counts.get(r, 0)) for r in counted)


def humor_score(h: int, t: int) -> float:
    """HS = (h / t) · tanh(t / 50); a post nobody reacted to is not evidence of humour."""
    if t <= 0:
        return 0.0
    return (h / t) * damping(t)


def shares(counts: Mapping[str, int], reactions: Iterable[str], t: int) -> dict[str, float]:
    """O(r): the share of each reaction of R among the post's t counted reactions."""
    return {r: int(counts.get(r, 0)) / t for r in reactions}


def reaction_mse(observed: Mapping[str, float], standard: Mapping[str, float]) -> float:
    """(1/|R|) Σ_{r∈R} (S(r) − O(r))², over the reactions of S."""
    return sum((standard[r] - observed[r]) ** 2 for r in standard) / len(standard)


def ns_v_slides(t: int, mse: float) -> float:
    """The slides' form: NS = −log(tanh(t/50) · MSE). Note: fewer reactions *raise* NS."""
    return -math.log(damping(t) * max(mse, EPSILON))


def ns_v_alt1(t: int, mse: float) -> float:
    """Alternative: NS = tanh(t/50) · (−log MSE) — damping shrinks NS for few reactions."""
    return damping(t) * -math.log(max(mse, EPSILON))


def ns_v_alt2(t: int, mse: float) -> float:
    """Alternative: NS = −log(MSE / tanh(t/50)) — damping lowers NS for few reactions."""
    return -math.log(max(mse, EPSILON) / damping(t))


NS_VERSIONS: dict[str, Callable[[int, float], float]] = {
    "ns_v_slides": ns_v_slides,
    "ns_v_alt1": ns_v_alt1,
    "ns_v_alt2": ns_v_alt2,
}


def non_humor_score(
    counts: Mapping[str, int], *, t: int, standard: Mapping[str, float], version: str
) -> float | None:
    """NS of one post against the reference distribution ``standard`` (S over R)."""
    if t <= 0:
        return None
    return NS_VERSIONS[version](t, reaction_mse(shares(counts, standard, t), standard))


@dataclass
class ReferenceAccumulator:
    """Builds S over a stream of posts without holding them.

    ``micro``: S(r) = Σ count_r / Σ t (every reaction weighs the same; the platform default).
    ``macro``: S(r) = mean over posts of count_r / t (every post weighs the same).
    Posts with t = 0 have no shares and are left out of both.
    """

    reactions: tuple[str, ...]
    counted: tuple[str, ...]
    sums: dict[str, float] = field(default_factory=dict)
    share_sums: dict[str, float] = field(default_factory=dict)
    total: int = 0
    posts: int = 0

    def add(self, counts: Mapping[str, int]) -> None:
        t = reaction_total(counts, self.counted)
        if t <= 0:
            return
        self.total += t
        self.posts += 1
        for r in self.reactions:
            c = int(counts.get(r, 0))
            self.sums[r] = self.sums.get(r, 0) + c
            self.share_sums[r] = self.share_sums.get(r, 0.0) + c / t

    def result(self, average: str) -> dict[str, float] | None:
        if self.posts == 0:
            return None
        if average == "micro":
            return {r: self.sums.get(r, 0) / self.total for r in self.reactions}
        if average == "macro":
            return {r: self.share_sums.get(r, 0.0) / self.posts for r in self.reactions}
        raise ValueError(f"unknown average {average!r}")


def s_version(
    standard: Mapping[str, float], *, average: str, counted: Sequence[str], posts: int
) -> str:
    """A short, stable name for one reference distribution and the choices that made it."""
    key = json.dumps(
        {
            "S": {r: round(v, 12) for r, v in sorted(standard.items())},
            "average": average,
            "counted": list(counted),
            "posts": posts,
        },
        sort_keys=True,
    )
    return f"S-{average}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
