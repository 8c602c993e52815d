"""The wsolevaluation zip through the Data tab: images, maps and ground truth become the
design's items; a missing heatmap is refused by its image id and nothing is stored."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import Item, ItemMedia
from ml.explain.saliency import NORMALISATIONS
from tests.explain.layouts import layout_zip

pytestmark = pytest.mark.django_db


def _upload(client, project, content: bytes, name: str = "run.zip"):
    return client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": SimpleUploadedFile(name, content, content_type="application/zip")},
    )


def test_a_missing_heatmap_is_refused_by_image_id_and_nothing_is_stored(
    client, owner, explain_project
):
    project = explain_project("pairwise")
    client.force_login(owner)
    content, samples, _ = layout_zip(4, drop=None)
    missing = samples[2].image_id
    content, _, _ = layout_zip(4, drop=missing)
    response = _upload(client, project, content)
    assert response.status_code == 400
    assert missing in response.content.decode()
    assert not Item.objects.filter(project=project).exists()
    assert not ItemMedia.objects.exists()


def test_the_data_tab_imports_every_image_as_the_designs_items(client, owner, explain_project):
    project = explain_project("plausibility")
    client.force_login(owner)
    content, samples, _ = layout_zip(4)
    response = _upload(client, project, content)
    assert response.status_code == 200, response.content.decode()[:2000]
    items = list(Item.objects.filter(project=project))
    assert len(items) == 4 * len(NORMALISATIONS)  # one per (image, normalisation)
    by_id = {s.image_id: s for s in samples}
    for item in items:
        sample = by_id[item.payload["image_id"]]
        assert item.payload["boxes"] == [list(sample.box)]
        assert item.payload["class_name"] == f"class {sample.label}"  # no class_names.txt
        assert (item.payload["width"], item.payload["height"]) == (48, 48)
        keys = set(item.media_files.values_list("key", flat=True))
        assert keys == {"image", item.payload["normalisation"]}
    first = {}
    for item in sorted(items, key=lambda i: i.pk):
        first.setdefault(item.payload["image_id"], item)
    for item in items:
        # The image's scores are stored once, on its first item.
        assert ("auto" in item.payload) == (first[item.payload["image_id"]] == item)
    for item in first.values():
        assert set(item.payload["auto"]) == set(NORMALISATIONS)
        assert "pos" not in item.payload["auto"]["ivr"]  # boxes only: no PxAP


def test_a_mask_layout_imports_with_boxes_from_the_masks_and_pxap_histograms(
    client, owner, explain_project
):
    project = explain_project("box")
    client.force_login(owner)
    content, samples, _ = layout_zip(3, masks=True)
    assert _upload(client, project, content).status_code == 200
    item = Item.objects.filter(project=project).order_by("id").first()
    sample = next(s for s in samples if s.image_id == item.payload["image_id"])
    assert item.payload["boxes"] == [list(sample.box)]
    auto = item.payload["auto"]["minmax"]
    assert sum(auto["pos"]) == sample.mask.sum()
    assert sum(auto["neg"]) == sample.mask.size - sample.mask.sum()


def test_a_zip_without_the_layout_is_refused(client, owner, explain_project):
    project = explain_project("pairwise")
    client.force_login(owner)
    response = _upload(client, project, b"not a zip at all")
    assert response.status_code == 400
    assert not Item.objects.filter(project=project).exists()


def test_a_heatmap_that_is_not_2d_is_refused_by_image_id(client, owner, explain_project):
    import io
    import zipfile

    project = explain_project("pairwise")
    client.force_login(owner)
    content, samples, _ = layout_zip(2)
    bad = samples[1].image_id
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            payload = source.read(info)
            if info.filename.endswith(bad.replace(".png", ".npy")):
                array = io.BytesIO()
                np.save(array, np.zeros((2, 3, 4)))
                payload = array.getvalue()
            archive.writestr(info, payload)
    response = _upload(client, project, buffer.getvalue())
    assert response.status_code == 400
    assert bad in response.content.decode()
    assert not Item.objects.filter(project=project).exists()
