"""What a task type's results page shows, as typed data: metrics, tables and figures.

A task type's ``results(project)`` returns a :class:`Results`. The dashboard draws it
(``apps/core/figures.py``, matplotlib) and caches it per project (``results_cache.py``), so
everything here round-trips through JSON (:meth:`Results.to_dict` / :meth:`Results.from_dict`).

Figures are one class per kind. A figure names its axes in words and knows its own data table,
which the page shows beside it (screen readers, copy-paste). A kind this module does not know
is an error (:class:`UnknownFigureKind`), never a bar chart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from django.utils.text import slugify

Number = int | float


class UnknownFigureKind(ValueError):
    """A figure of a kind no drawing code exists for."""


class InvalidResults(ValueError):
    """Results that cannot be shown as given (a task type's programming error)."""


def plain(value: Any) -> Any:
    """numpy scalars (from pandas, scikit-learn, crowd-kit) as plain Python for JSON."""
    from .registry import json_ready  # the one conversion; registry imports this module

    return json_ready(value)


def _plain_list(values: Iterable[Any]) -> list[Any]:
    return [plain(v) for v in values]


def _plain_optional(values: Iterable[Any] | None) -> list[Any] | None:
    return None if values is None else _plain_list(values)


# --- metrics ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Metric:
    """One number on a card: a human label, its value, and the group it belongs to.

    ``value=None`` is shown as "—" and needs a ``note`` saying why ("no gold items yet").
    ``interval`` is a (low, high) confidence interval, named by ``interval_label``. ``help`` is
    one plain-text line saying what the number is, with the paper's symbol beside the words
    ("humor score HS = (h/t)·tanh(t/50)"), for a reader who has not read the paper.
    """

    key: str  # stable machine name (tests, exports); never shown
    label: str  # what the researcher reads: "Dawid–Skene precision"
    value: Number | str | None
    group: str = "Summary"
    note: str = ""
    interval: tuple[float, float] | None = None
    interval_label: str = "95% CI"
    digits: int = 3
    help: str = ""

    def __post_init__(self) -> None:
        self.value = plain(self.value)
        if self.interval is not None:
            low, high = (plain(v) for v in self.interval)
            self.interval = None if low is None or high is None else (float(low), float(high))
        if self.value is None and not self.note:
            raise InvalidResults(f"Metric {self.key!r} has no value; give a note saying why.")

    @property
    def display(self) -> str:
        return _format(self.value, self.digits)

    @property
    def interval_range(self) -> str:
        if self.interval is None:
            return ""
        low, high = self.interval
        return f"{_format(low, self.digits)}–{_format(high, self.digits)}"

    @property
    def interval_display(self) -> str:
        return f"{self.interval_label} {self.interval_range}" if self.interval else ""


def _format(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")  # thin space: 12 345
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class MetricGroup:
    name: str
    metrics: list[Metric]


# --- tables ----------------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""

    def __post_init__(self) -> None:
        self.rows = [[plain(cell) for cell in row] for row in self.rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise InvalidResults(
                    f"Table {self.title!r}: a row has {len(row)} cells for "
                    f"{len(self.columns)} columns."
                )


# --- figures ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Figure:
    """Base of every figure kind: a title (shown above it, not inside), a note and a key.

    The key names the figure in its download URL; it defaults to the slugged title.
    """

    kind: ClassVar[str] = ""
    title: str
    note: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        self.key = slugify(self.key or self.title)[:80] or self.kind
        self.check()

    def check(self) -> None:
        """Raise InvalidResults when the data cannot be drawn."""

    def table(self) -> Table:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(kw_only=True)
class BarSeries:
    name: str
    values: list[Number | None]
    lower: list[Number | None] | None = None  # interval bounds, not error lengths
    upper: list[Number | None] | None = None


@dataclass(kw_only=True)
class ReferenceLine:
    """A horizontal line across a bar or line chart: a published number to compare with."""

    value: float
    label: str


@dataclass(kw_only=True)
class BarFigure(Figure):
    """Bars per category, one colour per series, with optional confidence intervals."""

    kind: ClassVar[str] = "bar"
    categories: list[str]
    series: list[BarSeries]
    y_label: str
    x_label: str = ""
    counts: bool = False  # integer ticks and labels
    y_range: tuple[float, float] | None = None
    references: list[ReferenceLine] = field(default_factory=list)

    def check(self) -> None:
        self.categories = [str(c) for c in self.categories]
        self.series = [s if isinstance(s, BarSeries) else BarSeries(**s) for s in self.series]
        self.references = [
            r if isinstance(r, ReferenceLine) else ReferenceLine(**r) for r in self.references
        ]
        if self.y_range is not None:
            self.y_range = (float(self.y_range[0]), float(self.y_range[1]))
        if not self.series:
            raise InvalidResults(f"Bar figure {self.title!r} has no series.")
        for s in self.series:
            s.values = _plain_list(s.values)
            s.lower, s.upper = _plain_optional(s.lower), _plain_optional(s.upper)
            for name in ("values", "lower", "upper"):
                values = getattr(s, name)
                if values is not None and len(values) != len(self.categories):
                    raise InvalidResults(
                        f"Bar figure {self.title!r}: series {s.name!r} has {len(values)} "
                        f"{name} for {len(self.categories)} categories."
                    )

    @property
    def has_intervals(self) -> bool:
        return any(s.lower is not None for s in self.series)

    def table(self) -> Table:
        columns = [self.x_label or "category"]
        for s in self.series:
            name = s.name if len(self.series) > 1 else self.y_label
            columns.append(name)
            if s.lower is not None:
                columns += [f"{name}: CI low", f"{name}: CI high"]
        rows = []
        for i, category in enumerate(self.categories):
            row: list[Any] = [category]
            for s in self.series:
                row.append(s.values[i])
                if s.lower is not None:
                    row += [s.lower[i], (s.upper or [None] * len(self.categories))[i]]
            rows.append(row)
        return Table(title=self.title, columns=columns, rows=rows)


@dataclass(kw_only=True)
class HistogramFigure(Figure):
    """Counts of values in bins; ``edges`` has one more entry than ``counts``."""

    kind: ClassVar[str] = "histogram"
    edges: list[float]
    counts: list[int]
    x_label: str
    y_label: str = "count"

    def check(self) -> None:
        self.edges = [float(e) for e in self.edges]
        self.counts = [int(c) for c in self.counts]
        if len(self.edges) != len(self.counts) + 1:
            raise InvalidResults(
                f"Histogram {self.title!r}: {len(self.edges)} edges for {len(self.counts)} bins "
                "(edges must be one more)."
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise InvalidResults(f"Histogram {self.title!r}: edges must increase.")

    def table(self) -> Table:
        rows = [[self.edges[i], self.edges[i + 1], count] for i, count in enumerate(self.counts)]
        return Table(
            title=self.title,
            columns=[f"{self.x_label} from", "to", self.y_label],
            rows=rows,
            note="Each bin holds values from its lower edge up to, not including, the upper "
            "edge; the last bin includes its upper edge.",
        )


@dataclass(kw_only=True)
class ScatterFigure(Figure):
    """Points with optional labels (annotators, systems); ``diagonal`` draws y = x."""

    kind: ClassVar[str] = "scatter"
    x: list[Number]
    y: list[Number]
    x_label: str
    y_label: str
    labels: list[str] = field(default_factory=list)
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    diagonal: bool = False

    def check(self) -> None:
        self.x, self.y = _plain_list(self.x), _plain_list(self.y)
        self.labels = [str(label) for label in self.labels]
        if len(self.x) != len(self.y) or (self.labels and len(self.labels) != len(self.x)):
            raise InvalidResults(f"Scatter {self.title!r}: x, y and labels differ in length.")
        for name in ("x_range", "y_range"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, (float(value[0]), float(value[1])))

    def table(self) -> Table:
        labels = self.labels or [str(i + 1) for i in range(len(self.x))]
        return Table(
            title=self.title,
            columns=["point", self.x_label, self.y_label],
            rows=[[lab, x, y] for lab, x, y in zip(labels, self.x, self.y, strict=True)],
        )


@dataclass(kw_only=True)
class LineSeries:
    name: str
    y: list[Number | None]
    lower: list[Number | None] | None = None
    upper: list[Number | None] | None = None


@dataclass(kw_only=True)
class LineFigure(Figure):
    """One or more series over a shared x axis, with optional interval bands."""

    kind: ClassVar[str] = "line"
    x: list[Number]
    series: list[LineSeries]
    x_label: str
    y_label: str
    counts: bool = False
    y_range: tuple[float, float] | None = None
    references: list[ReferenceLine] = field(default_factory=list)

    def check(self) -> None:
        self.x = _plain_list(self.x)
        self.series = [s if isinstance(s, LineSeries) else LineSeries(**s) for s in self.series]
        self.references = [
            r if isinstance(r, ReferenceLine) else ReferenceLine(**r) for r in self.references
        ]
        if self.y_range is not None:
            self.y_range = (float(self.y_range[0]), float(self.y_range[1]))
        if not self.series:
            raise InvalidResults(f"Line figure {self.title!r} has no series.")
        for s in self.series:
            s.y = _plain_list(s.y)
            s.lower, s.upper = _plain_optional(s.lower), _plain_optional(s.upper)
            for values in (s.y, s.lower, s.upper):
                if values is not None and len(values) != len(self.x):
                    raise InvalidResults(
                        f"Line figure {self.title!r}: series {s.name!r} does not match x."
                    )

    def table(self) -> Table:
        columns = [self.x_label]
        for s in self.series:
            columns.append(s.name)
            if s.lower is not None:
                columns += [f"{s.name}: low", f"{s.name}: high"]
        rows = []
        for i, x in enumerate(self.x):
            row: list[Any] = [x]
            for s in self.series:
                row.append(s.y[i])
                if s.lower is not None:
                    row += [s.lower[i], (s.upper or [None] * len(self.x))[i]]
            rows.append(row)
        return Table(title=self.title, columns=columns, rows=rows)


@dataclass(kw_only=True)
class GridImage:
    """An image in the item media storage (an ``ItemMedia.file.name``)."""

    name: str
    caption: str = ""
    alt: str = ""


@dataclass(kw_only=True)
class ImageGridFigure(Figure):
    """Images side by side with captions (explanation maps, samples per class)."""

    kind: ClassVar[str] = "image_grid"
    images: list[GridImage]
    columns: int = 4
    MAX_IMAGES: ClassVar[int] = 48

    def check(self) -> None:
        self.images = [i if isinstance(i, GridImage) else GridImage(**i) for i in self.images]
        if not 1 <= self.columns <= 12:
            raise InvalidResults(f"Image grid {self.title!r}: columns must be 1 to 12.")
        if len(self.images) > self.MAX_IMAGES:
            raise InvalidResults(
                f"Image grid {self.title!r}: {len(self.images)} images; at most "
                f"{self.MAX_IMAGES} fit a figure."
            )

    def table(self) -> Table:
        return Table(
            title=self.title,
            columns=["position", "caption", "file", "description"],
            rows=[[i + 1, g.caption, g.name, g.alt] for i, g in enumerate(self.images)],
        )


@dataclass(kw_only=True)
class TimeSpan:
    """What held on one row of a timeline from ``start`` to ``end`` (x values, e.g. years)."""

    row: str
    label: str
    start: float
    end: float


@dataclass(kw_only=True)
class TimelineFigure(Figure):
    """Labelled spans on a shared time axis, one row per series: which answer held when.
    Spans with the same label share a colour, so rows that agree look alike."""

    kind: ClassVar[str] = "timeline"
    rows: list[str]
    spans: list[TimeSpan]
    x_label: str = "year"

    def check(self) -> None:
        self.rows = [str(r) for r in self.rows]
        self.spans = [s if isinstance(s, TimeSpan) else TimeSpan(**s) for s in self.spans]
        if not self.rows or not self.spans:
            raise InvalidResults(f"Timeline {self.title!r} has no rows or no spans.")
        for span in self.spans:
            span.start, span.end = float(span.start), float(span.end)
            if span.row not in self.rows:
                raise InvalidResults(f"Timeline {self.title!r}: unknown row {span.row!r}.")
            if span.end < span.start:
                raise InvalidResults(f"Timeline {self.title!r}: a span ends before it starts.")

    def table(self) -> Table:
        return Table(
            title=self.title,
            columns=["row", "label", f"{self.x_label} from", "to"],
            rows=[[s.row, s.label, s.start, s.end] for s in self.spans],
        )


@dataclass(kw_only=True)
class HighlightLayer:
    """One way of highlighting a passage: its name (the row label and the legend's) and one
    weight per word in [0, 1] (0: not highlighted; 1: full colour)."""

    name: str
    weights: list[float]


@dataclass(kw_only=True)
class HighlightedPassage:
    caption: str
    words: list[str]
    layers: list[HighlightLayer]


@dataclass(kw_only=True)
class TextHighlightFigure(Figure):
    """Short passages with their words highlighted in several layers (a person's rationale, a
    model's attribution), drawn as aligned rows so the same word sits at the same place in
    each. A layer's colour follows its name, the same in every passage."""

    kind: ClassVar[str] = "text_highlight"
    passages: list[HighlightedPassage]
    MAX_PASSAGES: ClassVar[int] = 12
    MAX_WORDS: ClassVar[int] = 120

    def check(self) -> None:
        self.passages = [
            p if isinstance(p, HighlightedPassage) else HighlightedPassage(**p)
            for p in self.passages
        ]
        if not self.passages or len(self.passages) > self.MAX_PASSAGES:
            raise InvalidResults(
                f"Text figure {self.title!r}: 1 to {self.MAX_PASSAGES} passages, "
                f"not {len(self.passages)}."
            )
        for passage in self.passages:
            passage.words = [str(w) for w in passage.words]
            passage.layers = [
                layer if isinstance(layer, HighlightLayer) else HighlightLayer(**layer)
                for layer in passage.layers
            ]
            if len(passage.words) > self.MAX_WORDS:
                raise InvalidResults(
                    f"Text figure {self.title!r}: {passage.caption!r} has "
                    f"{len(passage.words)} words; at most {self.MAX_WORDS} fit."
                )
            for layer in passage.layers:
                layer.weights = [float(w) for w in _plain_list(layer.weights)]
                if len(layer.weights) != len(passage.words) or any(
                    not 0.0 <= w <= 1.0 for w in layer.weights
                ):
                    raise InvalidResults(
                        f"Text figure {self.title!r}: layer {layer.name!r} of "
                        f"{passage.caption!r} needs one weight in [0, 1] per word."
                    )

    @property
    def layer_names(self) -> list[str]:
        """Every layer's name once, in order of first appearance (the legend's order)."""
        return list(dict.fromkeys(layer.name for p in self.passages for layer in p.layers))

    def table(self) -> Table:
        rows = []
        for passage in self.passages:
            for layer in passage.layers:
                marked = [
                    f"{word} ({weight:.2f})"
                    for word, weight in zip(passage.words, layer.weights, strict=True)
                    if weight > 0
                ]
                rows.append([passage.caption, layer.name, ", ".join(marked) or "none"])
        return Table(
            title=self.title,
            columns=["passage", "highlighting", "words highlighted (weight)"],
            rows=rows,
        )


FIGURE_KINDS: dict[str, type[Figure]] = {
    cls.kind: cls
    for cls in (
        BarFigure,
        HistogramFigure,
        ScatterFigure,
        LineFigure,
        ImageGridFigure,
        TimelineFigure,
        TextHighlightFigure,
    )
}


def figure_from_dict(data: dict) -> Figure:
    data = dict(data)
    kind = data.pop("kind", None)
    cls = FIGURE_KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise UnknownFigureKind(
            f"Unknown figure kind {kind!r}; known kinds: {', '.join(sorted(FIGURE_KINDS))}."
        )
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


# --- links -----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Link:
    """A page or download of the task type's own that the results lead to (a per-item
    replay, a native-format download), shown under the numbers; ``url`` is a path on this
    site, reached through the task type's access-checked views."""

    label: str
    url: str
    note: str = ""

    def __post_init__(self) -> None:
        if not self.url.startswith("/"):
            raise InvalidResults(f"Link {self.label!r}: the URL must be a path on this site.")


# --- the whole page --------------------------------------------------------------------------


@dataclass
class Results:
    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Pages of the task type's own that belong with its results (``urlpatterns``).
    links: list[Link] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.links = [x if isinstance(x, Link) else Link(**x) for x in self.links]
        if isinstance(self.metrics, dict):
            raise InvalidResults(
                "Results.metrics is a list of Metric entries (label, value, group), not a dict."
            )
        for name, entries, cls in (
            ("metrics", self.metrics, Metric),
            ("figures", self.figures, Figure),
            ("tables", self.tables, Table),
        ):
            for entry in entries:
                if not isinstance(entry, cls):
                    raise InvalidResults(
                        f"Results.{name} holds a {type(entry).__name__}; expected {cls.__name__}."
                    )
        for figure in self.figures:
            if FIGURE_KINDS.get(figure.kind) is not type(figure):
                raise UnknownFigureKind(
                    f"{type(figure).__name__} is not a figure kind the dashboard draws; use one "
                    f"of {', '.join(c.__name__ for c in FIGURE_KINDS.values())}."
                )
        for name, keys in (
            ("metric", [m.key for m in self.metrics]),
            ("figure", [f.key for f in self.figures]),
        ):
            seen = {k for k in keys if keys.count(k) > 1}
            if seen:
                raise InvalidResults(f"Two {name}s share the key {sorted(seen)[0]!r}.")

    def metric(self, key: str) -> Metric:
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(f"No metric {key!r}.")

    def value(self, key: str) -> Any:
        return self.metric(key).value

    @property
    def values(self) -> dict[str, Any]:
        return {m.key: m.value for m in self.metrics}

    def groups(self) -> list[MetricGroup]:
        """Metrics by group, groups in the order their first metric appears."""
        groups: dict[str, MetricGroup] = {}
        for metric in self.metrics:
            groups.setdefault(metric.group, MetricGroup(metric.group, [])).metrics.append(metric)
        return list(groups.values())

    def figure(self, key: str) -> Figure:
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(f"No figure {key!r}.")

    @property
    def is_empty(self) -> bool:
        return not (self.metrics or self.tables or self.figures)

    def to_dict(self) -> dict:
        return {
            "metrics": [asdict(m) for m in self.metrics],
            "tables": [asdict(t) for t in self.tables],
            "figures": [f.to_dict() for f in self.figures],
            "notes": list(self.notes),
            "links": [asdict(link) for link in self.links],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Results:
        return cls(
            metrics=[Metric(**m) for m in data.get("metrics", [])],
            tables=[Table(**t) for t in data.get("tables", [])],
            figures=[figure_from_dict(f) for f in data.get("figures", [])],
            notes=list(data.get("notes", [])),
            links=[Link(**link) for link in data.get("links", [])],
        )
