"""Results and settings in words (issue 14, point 5): every card, setting and model metric says
what it is with the paper's symbol, no Markdown or evidence tag reaches a page, and K fits the
corpus (capped, and saying so)."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest
from django.urls import reverse

from apps.core import registry
from apps.humor.schemas import Config
from apps.training.models import ModelVersion

from .conftest import configure, jsonl
from .test_results import POSTS, answered  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

TABS = ["", "data/", "launch/", "progress/", "quality/", "results/", "models/", "export/"]


def visible_text(html: str) -> str:
    """What a reader sees: no tags, scripts, styles, comments or form-field contents."""
    for pattern in (
        r"<script\b.*?</script>",
        r"<style\b.*?</style>",
        r"<textarea\b.*?</textarea>",
        r"<!--.*?-->",
        r"<[^>]+>",
    ):
        html = re.sub(pattern, " ", html, flags=re.S)
    return unescape(html)


def test_no_page_of_a_humor_project_shows_markdown_backticks_or_evidence_tags(
    client,
    owner,
    answered,  # noqa: F811
):
    ModelVersion.objects.create(
        project=answered,
        number=1,
        trainer="humor",
        seed=13,
        code_version="t",
        artifact="x",
        config={"target": "binary"},
        metrics={"f1": 0.5, "auc": 0.6, "n_train": 3, "n_test": 1},
    )
    client.force_login(owner)
    for tab in TABS:
        response = client.get(f"/projects/{answered.slug}/{tab}")
        assert response.status_code == 200, tab
        text = visible_text(response.content.decode())
        assert "`" not in text, (tab, text[max(0, text.find("`") - 80) :][:160])
        tag = re.search(r".{0,60}\[[BSUV]\].{0,20}", text)
        assert tag is None, (tab, tag.group(0))
    results = client.get(f"/projects/{answered.slug}/results/").content.decode()
    assert "each post is answered by 5 people" in results  # the overlap, not its field name
    assert "quoted in the CHoRaL talk slides and not confirmed in the paper" in results


def test_every_results_card_has_a_one_line_help_and_hs_is_spelled_out(client, owner, answered):  # noqa: F811
    metrics = registry.get("humor").results(answered).metrics
    without = [m.key for m in metrics if not m.help]
    assert not without, f"cards without help: {without}"
    assert all("\n" not in m.help and "`" not in m.help for m in metrics)
    client.force_login(owner)
    html = client.get(f"/projects/{answered.slug}/results/").content.decode()
    humorous = html[html.index('id="metric-humorous"') :]
    humorous = humorous[: humorous.index('<div class="stat"')]
    assert 'class="help"' in humorous and "HS = (h/t)·tanh(t/50)" in unescape(humorous)


def test_the_score_settings_table_names_each_setting_in_words(answered):  # noqa: F811
    table = next(
        t
        for t in registry.get("humor").results(answered).tables
        if t.title == "Score settings behind these labels"
    )
    assert table.columns == ["setting", "value", "what it means"]
    names = [row[0] for row in table.rows]
    assert all("_" not in name for name in names), names
    values = {row[0]: row[1] for row in table.rows}
    assert values["NS formula"] == "As in the slides: −log(tanh(t/50)·MSE) (ns_v_slides)"
    assert values["Likes counted in t"] == "yes"
    assert values["Posts per reaction label (K), as set"] == 4
    assert values["How S is averaged"] == "Micro average (micro)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", values["Computed at"])
    assert all(row[2] for row in table.rows)


def test_the_settings_form_explains_each_score_setting_with_its_symbol(client, owner, answered):  # noqa: F811
    client.force_login(owner)
    html = unescape(client.get(f"/projects/{answered.slug}/").content.decode())
    for key, words in (
        ("likes_in_total", "HS = (h/t)·tanh(t/50)"),
        ("ns_version", "O(r)"),
        ("s_average", "S(r)"),
        ("k", "Capped at half the posts with reactions"),
        ("negative_rule", "non-humor score NS"),
        ("seed", "train/test split"),
        ("test_share", "80:20"),
    ):
        field = html[html.index(f'id="field-cfg_{key}"') :]
        field = field[: field.index("</div>\n  </div>") if "</div>\n  </div>" in field else 2000]
        assert 'class="helptext"' in field and words in field, key
        assert Config.model_fields[key].description, key
    assert "Alternative 1: tanh(t/50)·(−log MSE)" in html


def test_k_above_half_the_corpus_is_capped_and_the_pages_say_so(client, owner, humor_project):
    configure(humor_project, k=20000)  # CHoRaL's K on a nine-post corpus
    report = registry.get("humor").import_items(humor_project, jsonl(POSTS))
    assert report.ok, report.errors
    reacted = [p for p in POSTS if sum(p["reactions"].values()) > 0]
    k = len(reacted) // 2  # 8 posts with reactions: 4 per label
    assert any(
        f"K = 20,000 is more than this corpus allows: {k} posts per reaction label" in n
        for n in report.notes
    )
    items = {i.external_id: i.payload for i in humor_project.items.all()}
    humorous = sorted(e for e, p in items.items() if p["reaction_label"] == "humorous")
    hs = {p["id"]: p["reactions"].get("haha", 0) / sum(p["reactions"].values()) for p in reacted}
    hs = {e: h * np.tanh(sum(items[e]["reactions"].values()) / 50) for e, h in hs.items()}
    assert humorous == sorted(sorted(hs, key=lambda e: -hs[e])[:k])
    assert sum(1 for p in items.values() if p["reaction_label"] == "non_humorous") == k
    client.force_login(owner)
    html = client.get(f"/projects/{humor_project.slug}/results/").content.decode()
    card = html[html.index('id="metric-k"') :][:600]
    assert f'<div class="value">{k}</div>' in card
    assert f"capped from 20,000: half the {len(reacted)} posts with reactions" in card


def test_k_within_the_corpus_is_used_as_set(humor_project):
    configure(humor_project, k=2)
    registry.get("humor").import_items(humor_project, jsonl(POSTS))
    humor_project.refresh_from_db()
    meta = humor_project.derived["score_meta"]
    assert meta["k"] == meta["k_used"] == 2 and meta["humorous"] == 2


def test_model_metric_columns_explain_themselves(client, owner, answered):  # noqa: F811
    ModelVersion.objects.create(
        project=answered,
        number=1,
        trainer="humor",
        seed=13,
        code_version="t",
        artifact="x",
        config={"target": "binary"},
        metrics={"f1": 0.5, "auc": 0.6, "accuracy": 0.7, "n_train": 300, "n_test": 80},
    )
    client.force_login(owner)
    html = unescape(
        client.get(reverse("training:model_list", args=[answered.slug])).content.decode()
    )
    legend = html[html.index('id="metric-legend"') :]
    legend = legend[: legend.index("</dl>")]
    for label in ("F1", "ROC AUC", "Accuracy", "Training posts", "Test posts"):
        assert f"<dt>{label}</dt>" in legend, label
    assert "Pearson" not in legend  # no version has it: no column, no legend line
    assert 'title="The chance that a random humorous test post scores above' in html
