"""The text-highlight figure kind: passages whose words are highlighted in named layers."""

from __future__ import annotations

import re

import pytest

from apps.core import figures
from apps.core.results import (
    HighlightedPassage,
    HighlightLayer,
    InvalidResults,
    Results,
    TextHighlightFigure,
)

WORDS = ["my", "cat", "<stole>", "the", "seat", "haha"]


def _figure(words=WORDS, **layers) -> TextHighlightFigure:
    layers = layers or {"People": [0, 0.5, 0, 0, 0, 1], "Model": [0, 0, 0, 0, 1, 1]}
    return TextHighlightFigure(
        title="Highlighted",
        passages=[
            HighlightedPassage(
                caption="post-1",
                words=words,
                layers=[HighlightLayer(name=n, weights=w) for n, w in layers.items()],
            )
        ],
    )


def test_its_data_table_lists_each_layers_highlighted_words_with_their_weights():
    table = _figure().table()
    assert table.columns == ["passage", "highlighting", "words highlighted (weight)"]
    assert table.rows == [
        ["post-1", "People", "cat (0.50), haha (1.00)"],
        ["post-1", "Model", "seat (1.00), haha (1.00)"],
    ]


def test_it_round_trips_through_json_as_its_own_kind():
    results = Results(figures=[_figure()])
    again = Results.from_dict(results.to_dict())
    assert again == results and isinstance(again.figures[0], TextHighlightFigure)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ({"People": [0, 1]}, "one weight in \\[0, 1\\] per word"),
        ({"People": [0, 0, 0, 0, 0, 1.5]}, "one weight in \\[0, 1\\] per word"),
    ],
)
def test_weights_that_do_not_fit_the_words_are_refused(layers, message):
    with pytest.raises(InvalidResults, match=message):
        _figure(**layers)


def test_no_passage_or_too_many_are_refused():
    with pytest.raises(InvalidResults, match="1 to 12 passages"):
        TextHighlightFigure(title="t", passages=[])


def test_the_svg_keeps_words_as_escaped_text_with_one_colour_per_layer():
    svg = figures.inline_svg(_figure())
    assert "<stole>" not in svg and "&lt;stole&gt;" in svg
    # Each word is drawn once per layer, plus the two layer names in the legend and rows.
    assert len(re.findall(r">haha<", svg)) == 2
    for colour in figures.HIGHLIGHTS[:2]:
        assert colour in svg
    assert figures.render(_figure(), "png").startswith(b"\x89PNG")


def test_a_long_passage_wraps_onto_more_lines_and_the_figure_grows():
    short = figures.render(_figure(), "png")
    long_words = WORDS * 12
    weights = {"People": [0.5] * len(long_words), "Model": [0.0] * len(long_words)}
    long = figures.render(_figure(words=long_words, **weights), "png")
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(long)).height > 2 * Image.open(BytesIO(short)).height
    assert figures._lines([10, 10, 10, 10], room=25, gap=2) == [[0, 1], [2, 3]]
    assert figures._lines([40, 10], room=25, gap=2) == [[0], [1]]  # a word wider than a line
