"""Generate the humor demo data: posts.csv (CrowdTangle Facebook export format) and gold_posts.jsonl.

The posts are SYNTHETIC — written from templates by this script, with reaction counts drawn
from a seeded random generator — not real Facebook data. They imitate CHoRaL's corpus (COVID-era
posts, 2020-01-20 … 2021-03-18) and CrowdTangle's quirks, and include posts that each cleaning
rule removes (photos/videos, link previews, non-English, over 500 characters, duplicates), so the
import report of `make demo` shows every rule at work.

Regenerate (deterministic; the test suite checks the shipped files match):

    .venv/bin/python apps/humor/demo/make_demo_posts.py
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2021
WEIGHTED = (
    "Overperforming Score (weighted  —  Likes 1x Shares 1x Comments 1x Love 1x Wow 1x "
    "Haha 1x Sad 1x Angry 1x Care 1x )"
)
COLUMNS = [
    "Page Name",
    "User Name",
    "Facebook Id",
    "Page Category",
    "Page Admin Top Country",
    "Page Description",
    "Page Created",
    "Likes at Posting",
    "Followers at Posting",
    "Post Created",
    "Post Created Date",
    "Post Created Time",
    "Type",
    "Total Interactions",
    "Likes",
    "Comments",
    "Shares",
    "Love",
    "Wow",
    "Haha",
    "Sad",
    "Angry",
    "Care",
    "Video Share Status",
    "Is Video Owner?",
    "Post Views",
    "Total Views",
    "Total Views For All Crossposts",
    "Video Length",
    "URL",
    "Message",
    "Link",
    "Final Link",
    "Image Text",
    "Link Text",
    "Description",
    "Sponsor Id",
    "Sponsor Name",
    "Sponsor Category",
    WEIGHTED,
]
PAGES = [
    "Lockdown Laughs",
    "City Daily News",
    "Health Matters",
    "Neighbourhood Watch",
    "The Sourdough Club",
    "Office Life",
    "Parents Together",
    "Science Today",
]

JOKES = [
    "Day {n} of lockdown: my {thing} and I are no longer on speaking terms.",
    "I washed my hands so often today that my {thing} now asks for a manicure.",
    "Quarantine update: I have now talked to my {thing} more than to any human this week.",
    "My {thing} just saw me in real trousers and asked if we are going to the vet.",
    "Home schooling day {n}: the {thing} has been expelled for bad behaviour.",
    "Breaking: local person discovers the {thing} is the only colleague who never unmutes.",
    "I bought so much toilet paper that my {thing} now lives in a paper fort.",
    "Zoom tip: if you freeze your face mid-sentence your {thing} can finish the meeting.",
    "The {thing} and I have started a book club. Day {n}: neither of us has read the book.",
    "Social distancing is easy. My {thing} has been doing it from me for years.",
    "Covid haircut day {n}: the {thing} looks better than I do and it has no hair.",
    "Wore a mask to the shop and my {thing} still recognised me. Disguise failed.",
]
THINGS = [
    "cat",
    "dog",
    "fridge",
    "houseplant",
    "sourdough starter",
    "laptop",
    "goldfish",
    "kettle",
    "vacuum cleaner",
    "toaster",
    "parrot",
    "washing machine",
]
NEWS = [
    "The county reports {n} new cases today; testing sites stay open until 8 pm.",
    "Vaccination appointments for people over {n} open on Monday. Bring your ID card.",
    "Schools will stay closed for another {n} days, the education office confirmed.",
    "Hospitals ask visitors to stay home; {n} beds are currently in use on the ward.",
    "The city council meets on Thursday to discuss {n} new support grants for small shops.",
    "Reminder: masks are required on public transport. Fines start at {n} dollars.",
    "Our clinic now offers {n} extra testing slots every morning. Please book ahead.",
    "The weekly briefing starts at {n} o'clock and will be streamed on this page.",
]
SAD = [
    "We lost our dear friend {name} to COVID-19 this week. Rest in peace.",
    "Another {n} people died in our state today. Please stay home and stay safe.",
    "{name} spent {n} days in intensive care and did not make it. Our hearts are broken.",
]
ANGRY = [
    "Unbelievable: {n} people partied on the beach yesterday while nurses work double shifts.",
    "The company fired {n} workers by email during the pandemic. Shameful.",
]
LOVE = [
    "Thank you to the {n} volunteers who delivered groceries to older neighbours this week!",
    "Happy birthday {name}! Celebrating from a distance with lots of love.",
    "Our nurses are heroes. {n} days of shifts and still smiling. Thank you!",
]
NAMES = ["Maria", "John", "Aisha", "Tom", "Lucy", "Carlos", "Grace", "Omar", "Ellen", "Ravi"]
NON_ENGLISH = [
    "El gobierno anuncia que las escuelas estarán cerradas por {n} días más.",
    "Les masques sont obligatoires dans les transports en commun dès lundi.",
    "Die Impfzentren öffnen am Montag für alle über {n} Jahre.",
    "Hoje temos {n} novos casos na cidade. Fiquem em casa, por favor.",
]

# Reaction mixes (shares of like, love, care, haha, wow, sad, angry).
MIX = {
    "joke": (0.35, 0.05, 0.01, 0.52, 0.02, 0.01, 0.04),
    "mild_joke": (0.60, 0.05, 0.02, 0.25, 0.03, 0.02, 0.03),
    "news": (0.78, 0.04, 0.03, 0.02, 0.06, 0.04, 0.03),
    "sad": (0.25, 0.05, 0.15, 0.01, 0.04, 0.48, 0.02),
    "angry": (0.25, 0.02, 0.01, 0.06, 0.10, 0.06, 0.50),
    "love": (0.45, 0.40, 0.10, 0.01, 0.02, 0.01, 0.01),
}
ORDER = ("Likes", "Love", "Care", "Haha", "Wow", "Sad", "Angry")


def reactions(rng: random.Random, mix: str, total: int) -> dict[str, int]:
    weights = [max(w * rng.uniform(0.6, 1.4), 0.001) for w in MIX[mix]]
    picks = rng.choices(ORDER, weights=weights, k=total)
    return {name: picks.count(name) for name in ORDER}


def thousands(n: int) -> str:
    return f"{n:,}"


def make_rows(rng: random.Random) -> tuple[list[dict], list[dict]]:
    start = datetime(2020, 1, 20, 8, 0)
    span = (datetime(2021, 3, 18) - start).total_seconds()
    rows: list[dict] = []
    used_texts: list[str] = []

    def post(
        text: str,
        mix: str,
        *,
        kind: str = "Status",
        link_text: str = "",
        description: str = "",
        total: int | None = None,
    ) -> dict:
        page = rng.choice(PAGES)
        created = start + timedelta(seconds=rng.uniform(0, span))
        total = total if total is not None else int(rng.lognormvariate(4.2, 1.3))
        counts = reactions(rng, mix, total)
        if created < datetime(2020, 4, 17):
            counts["Care"] = 0  # the Care reaction did not exist yet: CrowdTangle leaves it blank
        comments, shares = rng.randint(0, total // 3 + 1), rng.randint(0, total // 4 + 1)
        interactions = sum(counts.values()) + comments + shares
        post_id = str(rng.randint(10**15, 10**16 - 1))
        page_id = str(rng.randint(10**9, 10**10 - 1))
        row = {column: "" for column in COLUMNS}
        row.update(
            {
                "Page Name": page,
                "User Name": page.replace(" ", ""),
                "Facebook Id": page_id,
                "Page Category": "MEDIA_NEWS_COMPANY",
                "Page Admin Top Country": "US",
                "Page Created": "2012-05-01 10:00:00",
                "Likes at Posting": thousands(rng.randint(1000, 900000)),
                "Followers at Posting": thousands(rng.randint(1000, 900000)),
                "Post Created": created.strftime("%Y-%m-%d %H:%M:%S EST"),
                "Post Created Date": created.strftime("%Y-%m-%d"),
                "Post Created Time": created.strftime("%H:%M:%S"),
                "Type": kind,
                "Total Interactions": thousands(interactions),
                "Likes": thousands(counts["Likes"]),
                "Comments": thousands(comments),
                "Shares": thousands(shares),
                "Love": str(counts["Love"]),
                "Wow": str(counts["Wow"]),
                "Haha": thousands(counts["Haha"]),
                "Sad": str(counts["Sad"]),
                "Angry": str(counts["Angry"]),
                "Care": str(counts["Care"]) if created >= datetime(2020, 4, 17) else "",
                "URL": f"https://www.facebook.com/{page_id}/posts/{post_id}",
                "Message": text,
                "Link Text": link_text,
                "Description": description,
                WEIGHTED: f"{rng.uniform(-5, 20):.2f}",
            }
        )
        if kind == "Link":
            row["Link"] = row["Final Link"] = "https://news.example.org/story"
        rows.append(row)
        used_texts.append(text)
        return row

    def fresh(template: str) -> str:
        """A filled-in template not used before (the intended duplicates come later)."""
        while True:
            text = template.format(
                n=rng.randint(2, 999), thing=rng.choice(THINGS), name=rng.choice(NAMES)
            )
            if text not in used_texts:
                return text
            template += " Stay safe."

    for i in range(70):
        post(fresh(JOKES[i % len(JOKES)]), "joke" if i % 3 else "mild_joke")
    for i in range(90):
        text = fresh(NEWS[i % len(NEWS)])
        if i % 9 == 0:
            text += " Details: https://health.example.gov/covid-update"
        post(text, "news")
    for i in range(35):
        post(fresh(SAD[i % len(SAD)]), "sad")
    for i in range(25):
        post(fresh(ANGRY[i % len(ANGRY)]), "angry")
    for i in range(35):
        post(fresh(LOVE[i % len(LOVE)]), "love")
    # A few posts nobody reacted to (t = 0) and a few with a handful of reactions.
    for i in range(6):
        post(NEWS[i].format(n=rng.randint(2, 99)) + " (repost)", "news", total=0)
    # What the cleaning rules remove.
    for i in range(15):
        post(
            JOKES[i % len(JOKES)].format(n=i + 1, thing="photo") + " [photo]",
            "joke",
            kind=rng.choice(["Photo", "Native Video", "Album", "YouTube"]),
        )
    for i in range(12):
        post(
            f"Read the full story ({i + 1}) on our website.",
            "news",
            kind="Link",
            link_text="Covid update: what changes on Monday",
            description="All the rules.",
        )
    for i in range(12):
        post(fresh(NON_ENGLISH[i % len(NON_ENGLISH)]), "news")
    for i in range(5):
        long_text = " ".join(NEWS[(i + j) % len(NEWS)].format(n=j + 10) for j in range(8))
        post(long_text, "news")
    for i in range(10):
        post(used_texts[i * 7], "joke")  # same text, new post id
    rng.shuffle(rows)

    gold = []
    for i, template in enumerate(JOKES[:6]):
        gold.append(
            {
                "id": f"gold-yes-{i + 1}",
                "kind": "gold",
                "gold": {"funny": "yes"},
                "text": template.format(n=100 + i, thing=THINGS[-1 - i]),
                "reactions": {"like": 40, "haha": 90, "love": 5},
                "created": "2020-06-01",
            }
        )
    for i, template in enumerate(NEWS[:6]):
        gold.append(
            {
                "id": f"gold-no-{i + 1}",
                "kind": "gold",
                "gold": {"funny": "no"},
                "text": template.format(n=40 + i),
                "reactions": {"like": 120, "sad": 4},
                "created": "2020-06-01",
            }
        )
    return rows, gold


def render(rows: list[dict], gold: list[dict]) -> tuple[str, str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    jsonl = "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in gold)
    return out.getvalue(), jsonl


def main() -> None:
    rows, gold = make_rows(random.Random(SEED))
    posts, gold_text = render(rows, gold)
    (HERE / "posts.csv").write_text(posts, encoding="utf-8")
    (HERE / "gold_posts.jsonl").write_text(gold_text, encoding="utf-8")
    print(f"wrote {len(rows)} posts and {len(gold)} gold posts to {HERE}")


if __name__ == "__main__":
    main()
