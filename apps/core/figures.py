"""Drawing the results' figures with matplotlib: inline SVG for the page, PDF and PNG for papers.

Only the object-oriented API is used (``matplotlib.figure.Figure``, no ``pyplot``): no global
figure state, so gunicorn's threads can draw side by side, and PNGs come from the Agg canvas.
Text stays text in the SVG (``svg.fonttype: none``): small, selectable, and read by screen
readers. The figure's title is not drawn inside it: the page and the paper give the caption.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import threading
from collections.abc import Callable
from typing import Any, cast

import matplotlib
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from .results import (
    BarFigure,
    Figure,
    HistogramFigure,
    ImageGridFigure,
    LineFigure,
    ScatterFigure,
    TextHighlightFigure,
    TimelineFigure,
    UnknownFigureKind,
)

FORMATS = {"svg": "image/svg+xml", "pdf": "application/pdf", "png": "image/png"}
PNG_DPI = 200  # sharp enough for a paper; the PDF is vector anyway
WIDTH_IN, HEIGHT_IN = 4.8, 2.8  # a half-width card at 1:1; a paper column or two

INK, MUTED, GRID = "#1d2330", "#5b6475", "#dfe3ea"
PALETTE = ["#3554d1", "#e8590c", "#2b8a3e", "#862e9c", "#c2255c", "#495057"]
# Highlighter colours: light enough that dark text stays readable on the full colour.
HIGHLIGHTS = ["#fcc419", "#74c0fc", "#8ce99a", "#e599f7", "#ffa8a8", "#c0eb75"]
STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 10,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.axisbelow": True,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "legend.frameon": False,
    "svg.fonttype": "none",
    "text.parse_math": False,  # a "$" in a system name is text, not TeX
    "pdf.fonttype": 42,  # TrueType in the PDF, so journals' checkers accept it
}
# rcParams are process-global; drawing holds the lock so two threads' styles never mix.
_LOCK = threading.Lock()


class FigureFormatError(ValueError):
    pass


def render(figure: Figure, fmt: str) -> bytes:
    """The figure as SVG, PDF or PNG bytes."""
    if fmt not in FORMATS:
        raise FigureFormatError(f"Unknown figure format {fmt!r}; use svg, pdf or png.")
    draw = _drawer(figure)
    with _LOCK, matplotlib.rc_context(cast(Any, STYLE | {"svg.hashsalt": figure.key})):
        mpl = draw(figure)
        out = io.BytesIO()
        metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}[fmt]
        mpl.savefig(out, format=fmt, dpi=PNG_DPI, bbox_inches="tight", metadata=metadata)
    return out.getvalue()


def inline_svg(figure: Figure) -> str:
    """The SVG element for the page: no XML prologue, sized by CSS, labelled by the title.

    Image grids return "": their pixels would make the page heavy, so the page shows their PNG.
    """
    if isinstance(figure, ImageGridFigure):
        _drawer(figure)
        return ""
    svg = render(figure, "svg").decode()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    width = re.search(r'width="([\d.]+)pt"', svg)
    max_width = f"max-width:{float(width.group(1)) * 4 / 3:.0f}px;" if width else ""
    svg = re.sub(r'\s(width|height)="[\d.]+pt"', "", svg, count=2)
    title = _escape(figure.title)
    return svg.replace(
        "<svg ",
        f'<svg class="figure-svg" role="img" aria-label="{title}" '
        f'style="width:100%;height:auto;{max_width}" ',
        1,
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _drawer(figure: Figure) -> Callable[[Figure], MplFigure]:
    draw = _DRAWERS.get(type(figure))
    if draw is None:
        raise UnknownFigureKind(f"No drawing for figure kind {figure.kind!r}.")
    return draw


def _axes(height: float = HEIGHT_IN):
    mpl = MplFigure(figsize=(WIDTH_IN, height), layout="constrained")
    ax = mpl.add_subplot()
    ax.yaxis.grid(True, color=GRID, linewidth=0.8)
    return mpl, ax


def _number(value: float, counts: bool) -> str:
    return f"{value:.0f}" if counts else f"{value:.2f}"


def _legend(ax, n: int) -> None:
    """Above the plot, in one row: it covers no data and costs no width."""
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=min(n, 4), borderaxespad=0)


def _gap(high: float | None, low: float | None) -> float:
    # A bound a rounding error past its value (k = n, an exact interval) is no negative whisker.
    return math.nan if high is None or low is None else max(0.0, high - low)


def _references(ax, references) -> None:
    for ref in references:
        ax.axhline(ref.value, color=MUTED, linestyle="--", linewidth=1)
        ax.annotate(
            f"{ref.label} ({ref.value:g})",
            xy=(1, ref.value),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            color=MUTED,
            fontsize=8,
            # Readable where the line crosses a bar.
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
        )


def _draw_bar(figure: BarFigure) -> MplFigure:
    mpl, ax = _axes()
    n_series = len(figure.series)
    width = 0.8 / n_series
    positions = list(range(len(figure.categories)))
    labelled = len(figure.categories) * n_series <= 16
    for index, series in enumerate(figure.series):
        xs = [p - 0.4 + width * (index + 0.5) for p in positions]
        values = [math.nan if v is None else v for v in series.values]
        yerr = None
        if series.lower is not None and series.upper is not None:
            # A category without an interval (F1 has none in closed form) gets no whisker.
            yerr = [
                [_gap(v, lo) for v, lo in zip(series.values, series.lower, strict=True)],
                [_gap(hi, v) for v, hi in zip(series.values, series.upper, strict=True)],
            ]
        bars = ax.bar(
            xs,
            values,
            width * 0.92,
            yerr=yerr,
            capsize=3 if yerr else 0,
            error_kw={"ecolor": INK, "elinewidth": 1},
            color=PALETTE[index % len(PALETTE)],
            label=series.name,
        )
        if labelled:
            # With whiskers the value goes inside the bar, where no whisker crosses it.
            ax.bar_label(
                bars,
                labels=["" if v is None else _number(v, figure.counts) for v in series.values],
                label_type="center" if yerr else "edge",
                padding=0 if yerr else 2,
                fontsize=8,
                color="white" if yerr else INK,
            )
    if len(figure.categories) > 6 and max(len(c) for c in figure.categories) > 8:
        ax.set_xticks(positions, figure.categories)
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    else:
        # A few long names ("the brightness of the background") wrap instead of colliding.
        ax.set_xticks(positions, [textwrap.fill(c, 18) for c in figure.categories])
    ax.set_ylabel(figure.y_label)
    if figure.x_label:
        ax.set_xlabel(figure.x_label)
    if figure.counts:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    if figure.y_range:
        ax.set_ylim(*figure.y_range)
    else:
        ax.set_ylim(bottom=0)
        ax.margins(y=0.15)  # room for the value labels
    _references(ax, figure.references)
    if n_series > 1:
        _legend(ax, n_series)
    return mpl


def _draw_histogram(figure: HistogramFigure) -> MplFigure:
    mpl, ax = _axes()
    edges = figure.edges
    ax.bar(
        edges[:-1],
        figure.counts,
        width=[b - a for a, b in zip(edges, edges[1:], strict=False)],
        align="edge",
        color=PALETTE[0],
        edgecolor="white",
        linewidth=0.5,
    )
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(figure.x_label)
    ax.set_ylabel(figure.y_label)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    return mpl


def _draw_scatter(figure: ScatterFigure) -> MplFigure:
    mpl, ax = _axes(height=3.0)
    ax.xaxis.grid(True, color=GRID, linewidth=0.8)
    ax.scatter(figure.x, figure.y, s=28, color=PALETTE[0], alpha=0.8, zorder=3)
    if figure.diagonal:
        low = min([*figure.x, *figure.y, 0])
        high = max([*figure.x, *figure.y, 1])
        ax.plot([low, high], [low, high], color=MUTED, linestyle="--", linewidth=1)
    if figure.labels and len(figure.labels) <= 15:
        for label, x, y in zip(figure.labels, figure.x, figure.y, strict=True):
            ax.annotate(
                label[:24],
                (x, y),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=7,
                color=MUTED,
            )
    ax.set_xlabel(figure.x_label)
    ax.set_ylabel(figure.y_label)
    if figure.x_range:
        ax.set_xlim(*figure.x_range)
    if figure.y_range:
        ax.set_ylim(*figure.y_range)
    return mpl


def _draw_line(figure: LineFigure) -> MplFigure:
    mpl, ax = _axes()
    markers = len(figure.x) <= 30
    for index, series in enumerate(figure.series):
        color = PALETTE[index % len(PALETTE)]
        ys = [math.nan if v is None else v for v in series.y]
        ax.plot(
            figure.x,
            ys,
            color=color,
            marker="o" if markers else None,
            markersize=3.5,
            label=series.name,
        )
        if series.lower is not None and series.upper is not None:
            ax.fill_between(
                figure.x,
                [math.nan if v is None else v for v in series.lower],
                [math.nan if v is None else v for v in series.upper],
                color=color,
                alpha=0.18,
                linewidth=0,
            )
    ax.set_xlabel(figure.x_label)
    ax.set_ylabel(figure.y_label)
    if figure.counts:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    if figure.y_range:
        ax.set_ylim(*figure.y_range)
    _references(ax, figure.references)
    if len(figure.series) > 1:
        _legend(ax, len(figure.series))
    return mpl


def _draw_image_grid(figure: ImageGridFigure) -> MplFigure:
    from django.core.exceptions import SuspiciousFileOperation
    from PIL import Image, UnidentifiedImageError

    from .media import item_media_storage

    columns = min(figure.columns, max(len(figure.images), 1))
    rows = max(math.ceil(len(figure.images) / columns), 1)
    mpl = MplFigure(figsize=(1.7 * columns, 1.9 * rows), layout="constrained")
    for index in range(rows * columns):
        ax = mpl.add_subplot(rows, columns, index + 1)
        ax.set_axis_off()
        if index >= len(figure.images):
            continue
        image = figure.images[index]
        try:
            with (
                item_media_storage().open(image.name, "rb") as handle,
                Image.open(handle) as opened,
            ):
                pixels = opened.convert("RGB")
                pixels.thumbnail((512, 512))
            ax.imshow(pixels)
        except (OSError, UnidentifiedImageError, ValueError, SuspiciousFileOperation):
            # A missing or unreadable file leaves a marked gap, not a broken figure.
            ax.text(0.5, 0.5, "image missing", ha="center", va="center", color=MUTED, fontsize=8)
        if image.caption:
            ax.set_title(image.caption[:40], fontsize=8, color=INK)
    return mpl


def _draw_timeline(figure: TimelineFigure) -> MplFigure:
    rows = figure.rows
    mpl, ax = _axes(height=0.9 + 0.42 * len(rows))
    ax.yaxis.grid(False)
    ax.xaxis.grid(True, color=GRID, linewidth=0.8)
    colours: dict[str, str] = {}
    for span in figure.spans:
        colour = colours.setdefault(span.label, PALETTE[len(colours) % len(PALETTE)])
        y = len(rows) - 1 - rows.index(span.row)
        width = max(span.end - span.start, 0.05)
        ax.broken_barh([(span.start, width)], (y - 0.32, 0.64), color=colour, alpha=0.85)
        ax.text(
            span.start + width / 2,
            y,
            span.label[:28],
            ha="center",
            va="center",
            fontsize=7.5,
            color="white",
            clip_on=True,
        )
    ax.set_yticks(range(len(rows)), list(reversed(rows)))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    low = min(s.start for s in figure.spans)
    high = max(s.end for s in figure.spans)
    pad = max((high - low) * 0.03, 0.5)
    ax.set_xlim(low - pad, high + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    ax.set_xlabel(figure.x_label)
    return mpl


def _text_width(text: str, size: float) -> float:
    """The width of ``text`` in points, measured from the font's glyphs (no canvas needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    # "sans-serif" resolves through rcParams, as the drawn text does (render sets STYLE).
    font = FontProperties(family="sans-serif", size=size)
    width, _, _ = TextToPath().get_text_width_height_descent(text, font, ismath=False)
    return float(width)


def _lines(widths: list[float], room: float, gap: float) -> list[list[int]]:
    """Word indices per line: as many as fit in ``room`` points, at least one per line."""
    lines: list[list[int]] = [[]]
    used = 0.0
    for i, w in enumerate(widths):
        if lines[-1] and used + gap + w > room:
            lines.append([])
            used = 0.0
        used += (gap if lines[-1] else 0.0) + w
        lines[-1].append(i)
    return lines


def _draw_text_highlight(figure: TextHighlightFigure) -> MplFigure:
    """Each passage: its caption, then one row per layer with the words at the same places,
    so a word's highlight in each layer lines up; a legend of the layers' colours on top."""
    from matplotlib.patches import Rectangle

    size, small, pad, gap, row = 12.0, 9.5, 2.5, 3.5, 19.0
    names = figure.layer_names
    colours = {name: HIGHLIGHTS[i % len(HIGHLIGHTS)] for i, name in enumerate(names)}
    graded = {
        layer.name
        for p in figure.passages
        for layer in p.layers
        if any(0 < w < 1 for w in layer.weights)
    }
    width = WIDTH_IN * 72 * 2.0  # a full-width card: posts read as lines of text
    label_w = max(_text_width(n, small) for n in names) + 10 if names else 0.0
    room = width - label_w
    # Layout first (top-down, in points), drawing after: the height is known only then.
    legend: list[tuple[float, str]] = []
    x = 0.0
    for name in names:
        entry = 12 + 3 * 14 * (name in graded) + _text_width(name, small) + 16
        if x and x + entry > width:
            break  # one legend line; the data table names every layer anyway
        legend.append((x, name))
        x += entry
    y = 22.0
    blocks = []
    for passage in figure.passages:
        widths = [_text_width(w, size) + 2 * pad for w in passage.words]
        lines = _lines(widths, room, gap)
        blocks.append((y, passage, widths, lines))
        y += 14 + len(lines) * (len(passage.layers) * row + 5) + 5
    height = max(y, 30.0)
    mpl = MplFigure(figsize=(width / 72, height / 72))
    ax = mpl.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()

    def swatch(x0: float, y0: float, colour: str, alpha: float) -> None:
        ax.add_patch(Rectangle((x0, y0), 11, 11, facecolor=colour, alpha=alpha, linewidth=0))

    for x0, name in legend:
        shades = (0.25, 0.5, 1.0) if name in graded else (1.0,)
        for n, shade in enumerate(shades):
            swatch(x0 + 14 * n, 3, colours[name], 0.15 + 0.85 * shade)
        ax.text(x0 + 14 * len(shades) + 2, 8.5, name, fontsize=small, color=INK, va="center")
    for top, passage, widths, lines in blocks:
        ax.text(0, top + 5, passage.caption, fontsize=small, color=MUTED, va="center")
        y = top + 14
        for line in lines:
            for layer in passage.layers:
                ax.text(
                    label_w - 8,
                    y + row / 2,
                    layer.name,
                    fontsize=small,
                    color=MUTED,
                    ha="right",
                    va="center",
                )
                x = label_w
                for i in line:
                    weight = layer.weights[i]
                    if weight > 0:
                        ax.add_patch(
                            Rectangle(
                                (x, y + 1.5),
                                widths[i],
                                row - 3,
                                facecolor=colours[layer.name],
                                alpha=0.15 + 0.85 * weight,
                                linewidth=0,
                            )
                        )
                    ax.text(
                        x + widths[i] / 2,
                        y + row / 2,
                        passage.words[i],
                        fontsize=size,
                        color=INK,
                        ha="center",
                        va="center",
                    )
                    x += widths[i] + gap
                y += row
            y += 5  # a wrapped passage: a little air between its line groups
    return mpl


_DRAWERS: dict[type, Callable] = {
    BarFigure: _draw_bar,
    HistogramFigure: _draw_histogram,
    ScatterFigure: _draw_scatter,
    LineFigure: _draw_line,
    ImageGridFigure: _draw_image_grid,
    TimelineFigure: _draw_timeline,
    TextHighlightFigure: _draw_text_highlight,
}
