"""Importing posts: CrowdTangle quirks, the plain JSONL form, cleaning rules, bad files, and the
scores, labels, split and study sample computed on import."""

from __future__ import annotations

import csv
import io

import pytest

from apps.core import registry
from apps.core.models import Item
from apps.humor import scores

from .conftest import configure, jsonl, post, upload

pytestmark = pytest.mark.django_db

# A CrowdTangle export with its quirks: "Created" instead of "Post Created", headers in odd
# case/spacing, thousands separators, a weighted column whose name varies, an empty Care cell.
HEADER = [
    "Page Name",
    "created",
    " Type ",
    "Total Interactions",
    "LIKES",
    "Comments",
    "Shares",
    "Love",
    "Wow",
    "Haha",
    "Sad",
    "Angry",
    "Care",
    "URL",
    "Message",
    "Link Text",
    "Description",
    "Overperforming Score (weighted — Likes 2x Shares 1x Comments 1x Love 1x )",
]


def ct_row(
    post_id,
    message,
    *,
    likes="0",
    love="0",
    wow="0",
    haha="0",
    sad="0",
    angry="0",
    care="0",
    type_="Status",
    link_text="",
    description="",
    url=None,
):
    return [
        "Lockdown Laughs",
        "2020-05-01 10:00:00 EDT",
        type_,
        "1,999",
        likes,
        "3",
        "2",
        love,
        wow,
        haha,
        sad,
        angry,
        care,
        url or f"https://www.facebook.com/123/posts/{post_id}/",
        message,
        link_text,
        description,
        "-2.5",
    ]


def ct_csv(rows, header=HEADER, bom=True) -> io.BytesIO:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return upload(("\ufeff" if bom else "") + out.getvalue(), "export.csv")


def run(project, f):
    return registry.get("humor").import_items(project, f)


def test_a_crowdtangle_export_with_every_quirk_imports(humor_project):
    f = ct_csv(
        [
            ct_row(
                "1001",
                "When the Zoom call could have been an email 😂",
                likes="1,234",
                haha="2,000",
                love="12",
                care="",
            ),
            ct_row(
                "1002",
                "Testing sites open until 8 pm.",
                likes="95",
                sad="5",
                url="https://www.facebook.com/permalink.php?story_fbid=1002&id=123",
            ),
        ]
    )
    report = run(humor_project, f)
    assert report.ok, report.errors
    assert report.created == 2
    item = Item.objects.get(project=humor_project, external_id="1001")
    p = item.payload
    assert item.kind == Item.Kind.REGULAR
    assert p["post_id"] == "1001"
    assert p["text"] == "When the Zoom call could have been an email 😂"
    assert p["created"] == "2020-05-01 10:00:00 EDT"
    assert p["type"] == "Status"
    assert p["reactions"] == {
        "like": 1234,
        "love": 12,
        "care": 0,
        "haha": 2000,
        "wow": 0,
        "sad": 0,
        "angry": 0,
    }
    assert p["t"] == 3246 and p["h"] == 2000
    assert p["hs"] == pytest.approx(2000 / 3246 * scores.damping(3246))
    assert p["total_interactions"] == 1999
    assert Item.objects.get(external_id="1002").payload["reactions"]["like"] == 95


def test_the_plain_jsonl_form_imports_with_missing_reactions_as_zero(humor_project):
    report = run(
        humor_project,
        jsonl(
            [
                post("a", "Ha ha, my cat runs the meeting now", haha=5),
                post("b", "New cases today", like=10, sad=2),
            ]
        ),
    )
    assert report.ok and report.created == 2
    p = Item.objects.get(external_id="a").payload
    assert p["reactions"] == {
        "like": 0,
        "love": 0,
        "care": 0,
        "haha": 5,
        "wow": 0,
        "sad": 0,
        "angry": 0,
    }
    assert p["created"] == "2020-05-01"


def test_each_cleaning_rule_removes_posts_and_the_report_counts_them(humor_project):
    long_text = "The council meets on Thursday. " * 20  # 620 characters
    f = ct_csv(
        [
            ct_row("1", "A picture of my cat in a mask", type_="Photo", haha="5"),
            ct_row("2", "Read the story", type_="Link", link_text="Covid rules change"),
            ct_row("3", "Las escuelas estarán cerradas por diez días más, dice el gobierno."),
            ct_row("4", long_text),
            ct_row("5", "My sourdough starter has more friends than I do"),
            ct_row("6", "my sourdough  starter has more friends than I do"),  # same text
            ct_row("5", "Same post id, collected twice by two searches"),
            ct_row("7", "   "),
            ct_row("8", "New rules: https://gov.example/covid and www.example.org/faq are updated"),
        ]
    )
    report = run(humor_project, f)
    assert report.ok, report.errors
    assert report.removed_by_rule == {
        "media": 1,
        "link_preview": 1,
        "empty_text": 1,
        "non_english": 1,
        "too_long": 1,
        "duplicate": 2,
    }
    assert sorted(humor_project.items.values_list("external_id", flat=True)) == ["5", "8"]
    p = Item.objects.get(external_id="8").payload
    assert p["text"] == "New rules: HTTPURL and HTTPURL are updated"
    assert p["message"].startswith("New rules: https://gov.example/covid")
    assert any("links replaced" in note for note in report.notes)


def test_cleaning_rules_can_be_switched_off(humor_project):
    configure(
        humor_project,
        cleaning={
            "text_only": False,
            "english_only": False,
            "drop_link_preview": False,
            "replace_links": False,
            "max_chars": None,
            "drop_duplicates": False,
        },
    )
    f = ct_csv(
        [
            ct_row("1", "A picture of my cat", type_="Photo"),
            ct_row("2", "Read the story", type_="Link", link_text="Covid rules change"),
            ct_row("3", "Las escuelas estarán cerradas por diez días más."),
            ct_row("4", "x" * 900),
            ct_row("5", "See https://gov.example/covid"),
            ct_row("6", "see https://gov.example/covid"),
        ]
    )
    report = run(humor_project, f)
    assert report.ok, report.errors
    assert report.created == 6
    assert Item.objects.get(external_id="5").payload["text"] == "See https://gov.example/covid"


def test_a_csv_without_the_message_column_is_refused_whole(humor_project):
    header = [h for h in HEADER if h != "Message"]
    rows = [[c for i, c in enumerate(ct_row("1", "hi")) if HEADER[i] != "Message"]]
    report = run(humor_project, ct_csv(rows, header=header))
    assert report.created == 0
    assert report.errors[0][0] == 1
    assert "missing column 'Message'" in report.errors[0][1]
    assert Item.objects.count() == 0


def test_non_numeric_counts_are_reported_by_row_and_column_and_nothing_is_stored(humor_project):
    f = ct_csv(
        [
            ct_row("1", "fine post", likes="10"),
            ct_row("2", "bad likes", likes="ten"),
            ct_row("3", "fine again", haha="3"),
            ct_row("4", "bad haha", haha="1.5"),
            ct_row("5", "negative", sad="-3"),
        ]
    )
    report = run(humor_project, f)
    assert report.created == 0
    assert report.errors == [
        (3, "column 'LIKES': 'ten' is not a whole number"),
        (5, "column 'Haha': '1.5' is not a whole number"),
        (6, "column 'Sad': '-3' is not a whole number"),
    ]
    assert Item.objects.count() == 0


def test_a_file_in_the_wrong_encoding_names_its_line_and_stores_nothing(humor_project):
    rows = [ct_row("1", "fine"), ct_row("2", "Caf\u00e9 reopening party tonight")]
    header = [*HEADER[:-1], "Overperforming Score (weighted - Likes 1x )"]
    # cp1252, as Excel on Windows saves "CSV": the é on line 3 is the byte 0xE9.
    latin1 = ct_csv(rows, header=header, bom=False).getvalue().decode().encode("cp1252")
    report = run(humor_project, upload(latin1, "export.csv"))
    assert report.created == 0
    assert report.errors[0][0] == 3
    assert report.errors[0][1].startswith("the file is not UTF-8")  # the line once
    assert Item.objects.count() == 0


def test_a_utf16_file_is_refused_with_a_clear_message(humor_project):
    data = ct_csv([ct_row("1", "fine")], bom=False).getvalue().decode().encode("utf-16")
    report = run(humor_project, upload(data, "export.csv"))
    assert report.created == 0 and "UTF-16" in report.errors[0][1]


def test_bad_jsonl_rows_name_their_line_and_field(humor_project):
    f = jsonl(
        [
            post("a", "ok", haha=1),
            {"id": "b", "text": "no reactions"},
            {"id": "c", "text": "odd", "reactions": {"lol": 3}},
            {"text": "no id", "reactions": {}},
            {
                "id": "e",
                "text": "bad gold",
                "kind": "gold",
                "gold": {"funny": "maybe"},
                "reactions": {},
            },
        ]
    )
    report = run(humor_project, f)
    assert report.created == 0
    lines = {line: reason for line, reason in report.errors}
    assert set(lines) == {2, 3, 4, 5}
    assert "'reactions' must be an object" in lines[2]
    assert "unknown reaction 'lol'" in lines[3]
    assert "missing 'id'" in lines[4]
    assert "needs 'gold'" in lines[5]
    assert Item.objects.count() == 0


def test_gold_posts_import_with_their_answer(humor_project):
    f = jsonl(
        [
            {
                "id": "g1",
                "kind": "gold",
                "gold": {"funny": "yes"},
                "text": "Knock knock. Who's there? Covid. Covid who? Stay home.",
                "reactions": {"haha": 3},
            }
        ]
    )
    report = run(humor_project, f)
    assert report.ok, report.errors
    item = Item.objects.get(external_id="g1")
    assert item.kind == Item.Kind.GOLD and item.gold_value == {"funny": "yes"}
    assert registry.get("humor").gold_correct(item, {"funny": "yes"})
    assert item.payload["reaction_label"] is None


def corpus() -> list[dict]:
    return [
        post("h1", "joke one", like=10, haha=90),
        post("h2", "joke two", like=50, haha=50),
        post("h3", "joke three", like=80, haha=20),
        post("n1", "news one", like=60, love=10, sad=10, angry=10, wow=10),
        post("n2", "news two", like=70, love=10, sad=10, angry=5, wow=5),
        post("n3", "news three", like=100),
        post("z", "nobody reacted"),
    ]


def test_import_computes_s_ns_and_records_the_choices(humor_project):
    report = run(humor_project, jsonl(corpus()))
    assert report.ok, report.errors
    humor_project.refresh_from_db()
    meta = humor_project.derived["score_meta"]
    # micro S over the six posts with reactions: Σcount_r / Σt, Σt = 600.
    assert meta["S"]["like"] == pytest.approx(370 / 600)
    assert meta["S"]["haha"] == pytest.approx(160 / 600)
    assert meta["posts"] == 7 and meta["posts_with_reactions"] == 6
    assert meta["ns_version"] == "ns_v_slides" and meta["k"] == 2
    for item in humor_project.items.all():
        p = item.payload
        assert p["s_version"] == meta["s_version"] and p["ns_version"] == "ns_v_slides"
        expected = scores.non_humor_score(
            p["reactions"], t=p["t"], standard=meta["S"], version="ns_v_slides"
        )
        assert p["ns"] == (pytest.approx(expected) if expected is not None else None)
    assert Item.objects.get(external_id="z").payload["ns"] is None
    assert Item.objects.get(external_id="z").payload["hs"] == 0


def labels(project) -> dict[str, str | None]:
    return {i.external_id: i.payload["reaction_label"] for i in project.items.all()}


def test_top_k_by_hs_are_humorous_and_top_k_by_ns_non_humorous(humor_project):
    run(humor_project, jsonl(corpus()))
    result = labels(humor_project)
    assert [k for k, v in sorted(result.items()) if v == "humorous"] == ["h1", "h2"]
    negatives = [k for k, v in result.items() if v == "non_humorous"]
    assert len(negatives) == 2 and "h1" not in negatives and "z" not in negatives
    ns = {i.external_id: i.payload["ns"] for i in humor_project.items.all()}
    rest = sorted(
        (k for k in ns if result[k] != "humorous" and ns[k] is not None), key=lambda k: -ns[k]
    )
    assert sorted(negatives) == sorted(rest[:2])


def test_the_negative_rule_can_be_bottom_hs(humor_project):
    configure(humor_project, negative_rule="bottom_HS")
    run(humor_project, jsonl(corpus()))
    result = labels(humor_project)
    # n1, n2, n3 have HS 0; ties break by post id; z (t = 0) is never labelled.
    assert [k for k, v in sorted(result.items()) if v == "non_humorous"] == ["n1", "n2"]
    assert result["z"] is None


def test_the_split_is_seeded_80_20_over_labelled_posts(humor_project):
    configure(humor_project, k=50)
    posts = [post(f"p{i:03d}", f"post number {i}", like=100 - i, haha=i) for i in range(100)]
    run(humor_project, jsonl(posts))
    splits = {i.external_id: i.payload["split"] for i in humor_project.items.all()}
    labelled = [k for k, v in labels(humor_project).items() if v]
    assert len(labelled) == 100
    assert sum(splits[k] == "test" for k in labelled) == 20
    # Same seed, same split — recomputing gives the same assignment.
    from apps.humor.services import scores_compute

    scores_compute(project=humor_project)
    again = {i.external_id: i.payload["split"] for i in humor_project.items.all()}
    assert again == splits
    configure(humor_project, seed=99)
    scores_compute(project=humor_project)
    assert {i.external_id: i.payload["split"] for i in humor_project.items.all()} != splits


def test_the_human_study_sample_covers_every_hs_stratum_with_higher_priority(humor_project):
    configure(humor_project, study={"size": 10, "strata": 5})
    # 90 posts with low HS, 10 spread over the high range.
    posts = [post(f"low{i:02d}", f"low {i}", like=100, haha=i % 3) for i in range(90)]
    posts += [post(f"high{i}", f"high {i}", like=100 - 10 * i, haha=10 * i) for i in range(1, 11)]
    run(humor_project, jsonl(posts))
    sampled = list(humor_project.items.filter(priority__gt=0))
    assert len(sampled) == 10
    assert {i.payload["study_stratum"] for i in sampled} == {0, 1, 2, 3, 4}
    assert all(i.priority == 1.0 for i in sampled)
    assert humor_project.items.filter(priority=0).count() == 90


def test_the_humor_scores_command_recomputes_after_a_settings_change(humor_project):
    from django.core.management import call_command

    run(humor_project, jsonl(corpus()))
    before = humor_project.items.get(external_id="n1").payload["ns"]
    configure(humor_project, ns_version="ns_v_alt1", s_average="macro")
    out = io.StringIO()
    call_command("humor_scores", humor_project.slug, stdout=out)
    assert "ns_v_alt1" in out.getvalue()
    humor_project.refresh_from_db()
    payload = humor_project.items.get(external_id="n1").payload
    assert payload["ns_version"] == "ns_v_alt1" and payload["ns"] != before
    assert payload["s_version"].startswith("S-macro-")
    assert humor_project.derived["score_meta"]["s_average"] == "macro"


def test_saving_new_scoring_settings_on_the_dashboard_recomputes_the_labels(
    client, humor_project, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.core.models import Job
    from apps.humor.tasks import scores_recompute

    run(humor_project, jsonl(corpus()))
    assert sum(v == "humorous" for v in labels(humor_project).values()) == 2
    sent = []
    monkeypatch.setattr(scores_recompute, "delay", lambda *args: sent.append(args))
    client.force_login(humor_project.owner)
    url = f"/projects/{humor_project.slug}/"
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {
        k: ("on" if v is True else v) for k, v in data.items() if v is not None and v is not False
    }
    data["cfg_k"] = "3"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data, follow=True)
    assert b"being recomputed on the worker" in response.content, response.context["form"].errors
    job = Job.objects.get(kind="humor_rescore")
    assert sent == [(job.pk,)]
    scores_recompute.apply(args=[job.pk])  # what the worker runs
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result["humorous"] == 3
    assert sum(v == "humorous" for v in labels(humor_project).values()) == 3
    scores_recompute.apply(args=[job.pk])  # a second delivery changes nothing
    assert Job.objects.get(pk=job.pk).attempts == 1
