"""Synthetic humor posts for tests and benchmarks: humorous ones joke, the others report.

The words differ by class, so even one epoch on a few hundred posts learns something; the
texts are clearly fake and never enter a real project's data.
"""

from __future__ import annotations

import random

_FUNNY = [
    "lol my cat just stole my seat again and looked proud about it",
    "when you open the fridge for the tenth time hoping new food appeared haha",
    "me pretending to understand the meeting while nodding like a bobblehead",
    "my plant died because I forgot it existed, classic me lmao",
    "tried to be productive today, ended up alphabetising my snacks",
    "dad joke of the day: I used to hate facial hair but then it grew on me",
]
_SERIOUS = [
    "the city council approved the new budget for road maintenance this year",
    "officials announced updated guidance on vaccination appointments for residents",
    "the report details quarterly revenue figures and regional employment data",
    "authorities confirmed the highway will close overnight for scheduled repairs",
    "the ministry published statistics on hospital admissions over the last month",
    "a press conference on the new school safety policy is scheduled for monday",
]


def synthetic_posts(n: int, seed: int = 0, *, with_split: bool = False) -> list[dict]:
    """``n`` records shaped like platform exports (item_id, text, hs, ns, reaction_label, split)."""
    rng = random.Random(seed)
    posts = []
    for i in range(n):
        funny = i % 2 == 0
        base = rng.choice(_FUNNY if funny else _SERIOUS)
        hs = rng.uniform(0.5, 1.0) if funny else rng.uniform(0.0, 0.3)
        posts.append(
            {
                "item_id": i + 1,
                "text": f"{base} #{rng.randint(1, 999)}",
                "hs": round(hs, 4),
                "ns": round(1 - hs, 4),
                "reaction_label": "humorous" if funny else "non_humorous",
                "split": ("test" if rng.random() < 0.2 else "train") if with_split else None,
            }
        )
    return posts
