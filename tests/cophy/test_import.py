"""Importing CoPhy example folders: a generated zip becomes scenes, items and the media the
browser draws; a malformed example is refused by its id and nothing at all is stored."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.cophy.models import Scene
from apps.core.media import media_storage
from apps.core.models import Item, ItemMedia
from tests.cophy import scenes

pytestmark = pytest.mark.django_db


def _upload(client, project, content: bytes, name: str = "scenes.zip"):
    return client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": SimpleUploadedFile(name, content, content_type="application/zip")},
    )


def _zip(examples, gold=()) -> bytes:
    return scenes.upload(examples, gold).read()


def _npy(item: Item, key: str) -> np.ndarray:
    media = item.media_files.get(key=key)
    with media_storage.open(media.file.name, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


def test_the_data_tab_imports_every_example_as_one_item_per_condition(client, owner, cophy_project):
    project = cophy_project("observed", "counterfactual_only")
    client.force_login(owner)
    examples = [scenes.tower(), scenes.tower("2", remove=True), scenes.balls(), scenes.collision()]
    response = _upload(client, project, _zip(examples))
    assert response.status_code == 200, response.content.decode()[:2000]
    assert Scene.objects.filter(project=project).count() == 4
    items = Item.objects.filter(project=project)
    assert items.count() == 8
    for example in examples:
        scene = Scene.objects.get(project=project, example_id=example.example_id)
        stored = scene.example()
        assert np.array_equal(stored.ab, example.ab) and np.array_equal(stored.cd, example.cd)
        assert np.array_equal(stored.confounders, example.confounders)
        pair = items.filter(group=f"scene:{example.example_id}").order_by("id")
        assert [i.payload["condition"] for i in pair] == ["observed", "counterfactual_only"]
        for item in pair:
            keys = set(item.media_files.values_list("key", flat=True))
            observed = item.payload["condition"] == "observed"
            assert keys == ({"ab", "start"} if observed else {"start"})
            start = _npy(item, "start")
            assert start.shape == (2, example.K, 7) and start.dtype == np.float32
            assert np.array_equal(start[0, :, :3], example.ab[0, :, :3])
            assert np.array_equal(start[1, :, 3:], example.cd[0, :, 3:7])
            if observed:
                ab = _npy(item, "ab")
                assert np.array_equal(ab[:, :, :3], example.ab[:, :, :3])
                media = item.media_files.get(key="ab")
                assert media.duration_s == pytest.approx((example.T - 1) / 5)
            # No medium holds D beyond C's first frame: the answer never leaves the server.
            for media in item.media_files.all():
                array = _npy(item, media.key)
                assert not any(
                    np.allclose(array[-1, :, :3], example.cd[t, :, :3])
                    for t in range(1, example.T)
                    if not np.allclose(example.cd[t, :, :3], example.cd[0, :, :3])
                )
    tower = items.get(external_id="blocktowerCF/3/1|observed")
    assert tower.payload["question"] == "tower"
    assert [o["color"] for o in tower.payload["objects"]] == ["red", "green", "blue"]
    assert tower.payload["intervention"]["description"] == "The blue block was moved 0.60 along +x."
    assert tower.payload["hidden"]["gravity"] == [0.5, 0.0]
    removed = items.get(external_id="blocktowerCF/3/2|observed")
    assert removed.payload["removed"] == 2
    ball = items.get(external_id="ballsCF/2/1|observed")
    assert ball.payload["target"] == 0
    assert ball.payload["contact_choices"] == ["green", "nothing"]
    assert "Nothing was imported" not in response.content.decode()


def test_a_malformed_example_is_refused_by_its_id_and_nothing_is_stored(
    client, owner, cophy_project
):
    project = cophy_project()
    client.force_login(owner)
    good = scenes.tower("1")
    bad_quaternion = scenes.tower("2")
    ab = bad_quaternion.ab.copy()
    ab[7, 1, 3:7] = (0.0, 0.0, 0.0, 2.0)
    wrong_shape = scenes.balls("9")
    examples = [
        good,
        scenes.broken(bad_quaternion, ab=ab),
        scenes.broken(wrong_shape, cd=wrong_shape.cd[:20]),
    ]
    response = _upload(client, project, _zip(examples))
    assert response.status_code == 400
    html = response.content.decode()
    assert "blocktowerCF/3/2" in html and "quaternion of object 1 at t=7 has norm 2.0000" in html
    assert "ballsCF/2/9" in html and "shape (20, 9, 13), expected (30, K, 13)" in html
    assert "blocktowerCF/3/1:" not in html  # the good example is not blamed
    assert not Scene.objects.exists()
    assert not Item.objects.filter(project=project).exists()
    assert not ItemMedia.objects.exists()


def test_a_failure_after_some_media_were_written_deletes_them_again(
    owner, cophy_project, monkeypatch
):
    from apps.cophy import services

    project = cophy_project()
    written = []
    real = services._media_save

    def save_then_fail(item, key, array, saved, duration=None):
        real(item, key, array, saved, duration)
        written.append(saved[-1])
        if len(written) == 3:
            raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "_media_save", save_then_fail)
    with pytest.raises(RuntimeError):
        services.scenes_import(
            project=project, upload=scenes.zip_file([scenes.tower(), scenes.balls()])
        )
    assert written and not any(media_storage.exists(name) for name in written)
    assert not Scene.objects.exists() and not Item.objects.exists()


def test_gold_txt_makes_gold_items_with_the_true_answer(owner, cophy_project):
    from apps.cophy import services

    project = cophy_project()
    report = services.scenes_import(
        project=project,
        upload=scenes.zip_file([scenes.tower("1"), scenes.balls()], gold=["blocktowerCF/3/1"]),
    )
    assert report.ok, report.errors
    gold = Item.objects.get(project=project, kind=Item.Kind.GOLD)
    assert gold.payload["example_id"] == "blocktowerCF/3/1"
    assert gold.gold_value == {
        "moves": {"red": False, "green": False, "blue": True},
        "falls": True,
    }
    project.refresh_from_db()
    assert project.gold_rate == pytest.approx(0.1)
    assert Scene.objects.get(example_id="blocktowerCF/3/1").gold


def test_gold_txt_naming_an_unknown_example_is_refused(owner, cophy_project):
    from apps.cophy import services

    project = cophy_project()
    report = services.scenes_import(
        project=project, upload=scenes.zip_file([scenes.tower()], gold=["blocktowerCF/3/77"])
    )
    assert not report.ok
    assert "gold.txt names 'blocktowerCF/3/77'" in report.errors[0][1]
    assert not Item.objects.exists()


def test_importing_a_scene_the_project_has_is_refused(owner, cophy_project):
    from apps.cophy import services

    project = cophy_project()
    assert services.scenes_import(project=project, upload=scenes.zip_file([scenes.tower()])).ok
    report = services.scenes_import(
        project=project, upload=scenes.zip_file([scenes.tower(), scenes.balls()])
    )
    assert [reason for _, reason in report.errors] == [
        "Example blocktowerCF/3/1: the project already has this scene."
    ]
    assert Scene.objects.count() == 1 and Item.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"id,text\n1,a\n", "items.csv", "CoPhy imports a zip of example folders"),
        (b"not a zip", "scenes.zip", "not a valid zip file"),
    ],
)
def test_a_file_that_is_not_a_scenes_zip_is_refused(owner, cophy_project, content, name, message):
    from apps.cophy import services

    upload = SimpleUploadedFile(name, content)
    report = services.scenes_import(project=cophy_project(), upload=upload)
    assert message in report.errors[0][1]


def test_a_zip_entry_pointing_outside_the_archive_is_refused(owner, cophy_project):
    from apps.cophy import services

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../blocktowerCF/3/1/ab/states.npy", b"x")
    buffer.seek(0)
    buffer.name = "evil.zip"
    report = services.scenes_import(project=cophy_project(), upload=buffer)
    assert "points outside the archive" in report.errors[0][1]
