"""Reading posts: CrowdTangle Facebook CSV exports and a plain JSONL form, with CHoRaL's cleaning.

The generic streaming/transaction machinery is ``apps.core.importing``; this module turns one
row into one post (an ``ItemSpec``), or drops it under a named cleaning rule, or rejects it
with a ``RowError`` naming the column.

CrowdTangle quirks handled (PROTOCOLS.md §1.4): ``Created`` instead of ``Post Created``;
thousands separators in counts (``1,234``); the weighted "Overperforming Score (…)" column
whose name varies (ignored); an empty ``Care`` cell (posts from before Care existed) or a
missing ``Care`` column counts 0; header names matched without regard to case or spaces.

JSONL form: ``{"id", "text", "reactions": {"like", "love", "care", "haha", "wow", "sad",
"angry"}, "created", "type"?, "link_text"?, "link_preview"?, "kind"?, "gold"?}``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pydantic

from apps.core.importing import ImportFailed, ItemSpec, Row, RowError
from apps.core.models import Item
from apps.core.registry import ImportField, ImportFormat

from .schemas import Answer, Config
from .scores import REACTIONS, counted_reactions, humor_score, reaction_total

# CrowdTangle column (as exported) for each reaction of the payload.
CT_REACTION_COLUMNS = {
    "like": "Likes",
    "love": "Love",
    "care": "Care",
    "haha": "Haha",
    "wow": "Wow",
    "sad": "Sad",
    "angry": "Angry",
}
CT_REQUIRED = ("Message", "URL", "Likes", "Love", "Wow", "Haha", "Sad", "Angry")
CT_CREATED = ("Post Created", "Created")

# Removal rules, in the order they are tried; a post is counted under the first that drops it.
RULES = ("media", "link_preview", "empty_text", "non_english", "too_long", "duplicate")

MEDIA_WORDS = ("photo", "video", "youtube", "vine", "album", "image", "gif", "reel", "igtv")
LINK_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
COUNT_RE = re.compile(r"^\d{1,3}(?:[,.'\u00a0\u202f ]\d{3})+$|^\d+$")
WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

# Function words: English versus the Latin-script languages a COVID corpus mostly mixes in.
ENGLISH_WORDS = frozenset(
    """
a about after all also am an and any are as at be been but by can could did do does don't
for from get got had has have he her him his how i i'm if in into is it it's its just know
like me more my no not now of on one only or our out so some than that that's the their them
then there these they this to too up us was we were what when which who will with would you
your just been being very why here dont im cant
""".split()
)
OTHER_WORDS = frozenset(
    """
el la los las del que por para con una uno es y en se su al lo como pero más este esta
le les des du et est une pour dans pas qui sur avec sont ce cette
der die das und ist nicht mit sich auf dem den ein eine zu von für über auch jahre
o os da do em um uma não com para mais
il che di non per sono della
yang dan di ini itu tidak dengan untuk
""".split()
)


def parse_count(raw: Any, column: str) -> int:
    """A reaction count; thousands separators allowed, empty = 0, anything else is an error."""
    if raw is None:
        return 0
    if isinstance(raw, bool):
        raise RowError(f"column {column!r}: {raw!r} is not a whole number")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        text = str(raw).strip()
        if text == "":
            return 0
        if not COUNT_RE.match(text):
            raise RowError(f"column {column!r}: {text!r} is not a whole number")
        value = int(re.sub(r"\D", "", text))
    if value < 0:
        raise RowError(f"column {column!r}: {value} is negative")
    return value


def post_id_from_url(url: str) -> str:
    """The post id is the URL's last path segment (or story_fbid/fbid of a .php permalink)."""
    parts = urlsplit(url.strip())
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if tail.endswith(".php") or not tail:
        query = parse_qs(parts.query)
        tail = (query.get("story_fbid") or query.get("fbid") or [""])[0]
    return tail.strip()


def replace_links(text: str, token: str) -> tuple[str, int]:
    return LINK_RE.subn(token, text)


def looks_english(text: str) -> bool:
    """A transparent heuristic (no language model is available offline).

    Mostly non-Latin letters → not English. Otherwise English when English function words
    outnumber those of Spanish/French/German/Portuguese/Italian/Indonesian; a post too short
    to tell (no function word of either list) is kept.
    """
    text = LINK_RE.sub(" ", text)
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f")
    if latin / len(letters) < 0.7:
        return False
    words = [w.lower() for w in WORD_RE.findall(text)]
    english = sum(w in ENGLISH_WORDS for w in words)
    other = sum(w in OTHER_WORDS and w not in ENGLISH_WORDS for w in words)
    if english == 0 and other == 0:
        return True
    return english > other


def display_parts(text: str) -> list[tuple[str, str]]:
    """The post as ("text" | "link", string) parts, so a template shows links unclickable."""
    parts: list[tuple[str, str]] = []
    position = 0
    for match in LINK_RE.finditer(text):
        if match.start() > position:
            parts.append(("text", text[position : match.start()]))
        parts.append(("link", match.group(0)))
        position = match.end()
    if position < len(text):
        parts.append(("text", text[position:]))
    return parts


def _dedupe_key(text: str) -> str:
    return " ".join(text.lower().split())


class PostReader:
    """Turns rows into post ItemSpecs for one upload; counts what each cleaning rule removed."""

    def __init__(
        self,
        *,
        config: Config,
        fmt: str,
        existing_ids: Iterable[str] = (),
        existing_texts: Iterable[str] = (),
    ):
        self.config = config
        self.fmt = fmt  # "csv" (CrowdTangle) | "jsonl"/"json" (plain form)
        self.counted = counted_reactions(config.reactions, likes_in_total=config.likes_in_total)
        self.removed: Counter[str] = Counter()
        self.links_replaced = 0
        self.seen_ids = set(existing_ids)
        self.seen_texts = {_dedupe_key(t) for t in existing_texts}
        self.duplicate_lines: list[int] = []  # lines of posts dropped as duplicates
        self.columns: dict[str, str] | None = None  # canonical name → the file's header

    # -- CrowdTangle ------------------------------------------------------------------

    def _check_header(self, keys: Iterable[str]) -> None:
        by_norm = {" ".join(k.lower().split()): k for k in keys}
        columns: dict[str, str] = {}
        wanted = (
            *CT_REQUIRED,
            *CT_CREATED,
            "Care",
            "Type",
            "Link Text",
            "Description",
            "Link",
            "Page Name",
            "Total Interactions",
        )
        for name in wanted:
            found = by_norm.get(name.lower())
            if found is not None:
                columns[name] = found
        missing = [name for name in CT_REQUIRED if name not in columns]
        if not any(name in columns for name in CT_CREATED):
            missing.append("Post Created (or Created)")
        if self.config.cleaning.text_only and "Type" not in columns:
            missing.append(
                "Type (needed by the text-only rule; switch the rule off to import without it)"
            )
        if missing:
            raise ImportFailed(
                "Line 1: this is not a CrowdTangle Facebook export: missing column"
                f"{'s' if len(missing) > 1 else ''} " + ", ".join(repr(m) for m in missing) + "."
            )
        self.columns = columns

    def _cell(self, data: dict[str, Any], name: str) -> str:
        column = self.columns.get(name) if self.columns else None
        value = data.get(column) if column else None
        return "" if value is None else str(value)

    def _crowdtangle(self, row: Row) -> dict[str, Any]:
        if self.columns is None:
            self._check_header(row.data.keys())
        data = row.data
        url = self._cell(data, "URL").strip()
        if not url:
            raise RowError("column 'URL' is empty: the post id comes from it")
        post_id = post_id_from_url(url)
        if not post_id:
            raise RowError(f"column 'URL': no post id in {url!r}")
        reactions = {
            r: parse_count(self._cell(data, column), (self.columns or {}).get(column, column))
            for r, column in CT_REACTION_COLUMNS.items()
        }
        total = self._cell(data, "Total Interactions").strip()
        created = self._cell(data, "Post Created") or self._cell(data, "Created")
        post: dict[str, Any] = {
            "post_id": post_id,
            "message": self._cell(data, "Message"),
            "created": created.strip(),
            "type": self._cell(data, "Type").strip(),
            "reactions": reactions,
            "link_text": self._cell(data, "Link Text").strip(),
            "description": self._cell(data, "Description").strip(),
            "page_name": self._cell(data, "Page Name").strip(),
            "url": url,
        }
        if total:
            # Not used for t (Comments and Shares are not reactions); kept for the export.
            post["total_interactions"] = int(re.sub(r"\D", "", total) or 0)
        post["has_preview"] = post["type"].lower() == "link" or bool(
            post["link_text"] or post["description"]
        )
        return post

    # -- plain JSONL ------------------------------------------------------------------

    def _plain(self, row: Row) -> dict[str, Any]:
        data = row.data
        post_id = str(data.get("id") if data.get("id") is not None else "").strip()
        if not post_id:
            raise RowError("missing 'id'")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise RowError("'text' must be a string")
        raw = data.get("reactions")
        if not isinstance(raw, dict):
            raise RowError('\'reactions\' must be an object like {"like": 3, "haha": 1, …}')
        unknown = sorted(set(raw) - set(REACTIONS))
        if unknown:
            raise RowError(
                f"'reactions': unknown reaction {unknown[0]!r} (known: {', '.join(REACTIONS)})"
            )
        reactions = {r: parse_count(raw.get(r), f"reactions.{r}") for r in REACTIONS}
        link_text = str(data.get("link_text") or "").strip()
        return {
            "post_id": post_id,
            "message": text or "",
            "created": str(data.get("created") or "").strip(),
            "type": str(data.get("type") or "").strip(),
            "reactions": reactions,
            "link_text": link_text,
            "has_preview": bool(data.get("link_preview")) or bool(link_text),
            "kind": str(data.get("kind") or Item.Kind.REGULAR).strip().lower(),
            "gold": data.get("gold"),
        }

    # -- cleaning and the item ----------------------------------------------------------

    def _rule(self, post: dict[str, Any], text: str) -> str | None:
        rules = self.config.cleaning
        kind = post["type"].lower()
        if rules.text_only and any(word in kind for word in MEDIA_WORDS):
            return "media"
        if rules.drop_link_preview and post["has_preview"]:
            return "link_preview"
        if not text.strip():
            return "empty_text"
        if rules.english_only and not looks_english(text):
            return "non_english"
        return None

    def spec(self, row: Row) -> ItemSpec | None:
        post = self._crowdtangle(row) if self.fmt == "csv" else self._plain(row)
        kind = post.pop("kind", Item.Kind.REGULAR)
        gold = post.pop("gold", None)
        if kind not in Item.Kind.values:
            raise RowError(f"'kind' {kind!r} is not one of {', '.join(Item.Kind.values)}")
        rules = self.config.cleaning
        message = post.pop("message")
        text = message.strip()
        if kind == Item.Kind.REGULAR:
            if gold not in (None, ""):
                raise RowError("'gold' is only for kind 'gold' or 'attention'")
            reason = self._rule(post, text)
            if reason is None and rules.replace_links:
                text, n = replace_links(text, rules.link_token)
                self.links_replaced += bool(n)
            if reason is None and rules.max_chars is not None and len(text) > rules.max_chars:
                reason = "too_long"
            if reason is None and rules.drop_duplicates:
                key = _dedupe_key(text)
                if post["post_id"] in self.seen_ids or key in self.seen_texts:
                    reason = "duplicate"
                self.seen_texts.add(key)
            if reason is not None:
                self.removed[reason] += 1
                if reason == "duplicate":
                    self.duplicate_lines.append(row.line)
                return None
        else:
            # Control items are the researcher's own choice: no cleaning, but a known answer.
            if not text:
                raise RowError("'text' is empty")
            try:
                gold = Answer.model_validate(gold).model_dump()
            except pydantic.ValidationError:
                raise RowError(f'a {kind} post needs \'gold\': {{"funny": "yes" | "no"}}') from None
        self.seen_ids.add(post["post_id"])
        t = reaction_total(post["reactions"], self.counted)
        h = post["reactions"]["haha"]
        payload: dict[str, Any] = {
            "post_id": post["post_id"],
            "text": text,
            "created": post["created"],
            "type": post["type"],
            "reactions": post["reactions"],
            "t": t,
            "h": h,
            "hs": humor_score(h, t),
            "ns": None,  # needs the corpus' S: filled in by scores_compute
            "ns_version": self.config.ns_version,
            "reaction_label": None,
            "split": None,
        }
        if text != message:
            payload["message"] = message  # shown to annotators, links unclickable
        for key in ("link_text", "page_name", "url", "total_interactions"):
            if post.get(key) not in (None, ""):
                payload[key] = post[key]
        return ItemSpec(external_id=post["post_id"], payload=payload, kind=kind, gold_value=gold)


# -- what the Data tab tells the researcher -------------------------------------------------

_PLAIN_ROWS = [
    {
        "id": "post-1",
        "text": "My sourdough starter has more friends than I do.",
        "reactions": {"like": 12, "love": 2, "haha": 30, "wow": 0, "sad": 0, "angry": 0},
        "created": "2020-04-02 10:15:00",
    },
    {
        "id": "post-2",
        "text": "The council will publish the new school timetable on Friday.",
        "reactions": {"like": 40, "love": 1, "care": 3, "haha": 0, "sad": 2, "angry": 1},
        "created": "2020-04-03 09:00:00",
    },
    {
        "id": "gold-1",
        "kind": "gold",
        "gold": {"funny": "yes"},
        "text": "Day 100 of lockdown: my washing machine and I are no longer on speaking terms.",
        "reactions": {"like": 40, "haha": 90, "love": 5},
    },
    {
        "id": "gold-2",
        "kind": "gold",
        "gold": {"funny": "no"},
        "text": "Pharmacies in the town centre now open at eight in the morning.",
        "reactions": {"like": 25, "sad": 1},
    },
]

_CT_SAMPLE_COLUMNS = ["Page Name", "Post Created", "Type", *CT_REACTION_COLUMNS.values(), "URL"]
_CT_SAMPLE_ROWS = [
    [
        "Lockdown Laughs",
        "2020-04-02 10:15:00 EDT",
        "Status",
        "12",
        "2",
        "0",
        "30",
        "0",
        "0",
        "0",
        "https://www.facebook.com/lockdownlaughs/posts/1001",
        "I have started talking to my plants. The basil is a very good listener.",
    ],
    [
        "Town News",
        "2020-04-03 09:00:00 EDT",
        "Status",
        "1,204",
        "8",
        "3",
        "0",
        "1",
        "2",
        "0",
        "https://www.facebook.com/townnews/posts/1002",
        "The library reopens on Monday with shorter hours and a limit of ten visitors.",
    ],
]


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def import_formats() -> list[ImportFormat]:
    """The two files humor reads: plain JSON lines (also gold rows) and a CrowdTangle CSV."""
    reactions = ", ".join(f'"{r}"' for r in REACTIONS)
    plain_lines = [json.dumps(row, ensure_ascii=False) for row in _PLAIN_ROWS]
    ct_header = [*_CT_SAMPLE_COLUMNS, "Message"]
    return [
        ImportFormat(
            key="posts-jsonl",
            title="Posts as JSON lines",
            extension="jsonl",
            description="One post per line. Posts the cleaning rules drop (media, link "
            "previews, not English, too long, duplicates) are counted, not stored; gold "
            "posts are never cleaned.",
            fields=(
                ImportField("id", "The post's unique id.", True),
                ImportField("text", "The post as people read it.", True),
                ImportField(
                    "reactions",
                    f"An object of reaction counts; keys among {reactions} (missing = 0).",
                    True,
                ),
                ImportField("created", "When it was posted, as text."),
                ImportField("type", "The post's type (Status, Photo, Link…)."),
                ImportField("link_text", "A link preview's title (the post is then dropped)."),
                ImportField("kind", "regular (default), gold or attention."),
                ImportField(
                    "gold", 'For a gold or attention post: {"funny": "yes"} or {"funny": "no"}.'
                ),
            ),
            example=plain_lines[0],
            sample="\n".join(plain_lines) + "\n",
        ),
        ImportFormat(
            key="crowdtangle-csv",
            title="CrowdTangle Facebook export (CSV)",
            extension="csv",
            description="The CSV CrowdTangle exports, unchanged: columns are matched without "
            "regard to case or spaces, counts may have thousands separators, other columns "
            "are ignored. The post id is the URL's last part.",
            fields=(
                ImportField("Message", "The post's text.", True),
                ImportField("URL", "The post's address; its id comes from it.", True),
                *(
                    ImportField(c, f"The {c} count.", True)
                    for c in CT_REACTION_COLUMNS.values()
                    if c != "Care"
                ),
                ImportField("Post Created", "When it was posted (or a 'Created' column).", True),
                ImportField("Type", "Status, Photo, Link…; needed while the text-only rule is on."),
                ImportField("Care", "The Care count (posts from before Care have none: 0)."),
                ImportField("Link Text", "A link preview's title (the post is then dropped)."),
                ImportField("Description", "A link preview's description."),
                ImportField("Page Name", "The page that posted it, kept in the export."),
                ImportField("Total Interactions", "Kept in the export; not used for t."),
            ),
            example=_csv_text(ct_header, _CT_SAMPLE_ROWS[:1]).strip(),
            sample=_csv_text(ct_header, _CT_SAMPLE_ROWS),
        ),
    ]
