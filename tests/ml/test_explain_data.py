"""The objects-on-clutter generator and the wsolevaluation metadata layout (writer and reader)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ml.explain.data import (
    CLASSES,
    LayoutError,
    generate,
    load_heatmaps,
    load_masks,
    mask_box,
    read_wsol_layout,
    write_wsol_layout,
)


def digest(samples) -> str:
    h = hashlib.sha256()
    for s in samples:
        h.update(s.image_id.encode())
        h.update(s.image.tobytes())
        h.update(s.mask.tobytes())
        h.update(repr((s.label, s.box)).encode())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    assert digest(generate("train", 12, seed=5)) == digest(generate("train", 12, seed=5))
    assert digest(generate("train", 12, seed=5)) != digest(generate("train", 12, seed=6))
    assert digest(generate("train", 12, seed=5)) != digest(generate("test", 12, seed=5))


def test_an_image_does_not_depend_on_how_many_are_asked_for():
    assert digest(generate("test", 3, seed=1)) == digest(generate("test", 7, seed=1)[:3])


def test_each_sample_has_one_object_inside_the_frame_with_its_box_and_mask():
    samples = generate("test", 16, seed=2, size=48, num_classes=4)
    assert [s.label for s in samples] == [i % 4 for i in range(16)]
    assert len({s.image_id for s in samples}) == 16
    for s in samples:
        assert s.image.shape == (48, 48, 3) and s.image.dtype == np.uint8
        assert s.mask.shape == (48, 48) and s.mask.sum() > 30
        ys, xs = np.nonzero(s.mask)
        assert s.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert s.box[2] <= 47 and s.box[3] <= 47
        assert s.image_id.startswith("test/") and s.image_id.endswith(".png")


def test_the_object_is_drawn_in_its_class_colour():
    colours = np.array([c for _, c in CLASSES], dtype=float)
    for s in generate("train", 12, seed=0, num_classes=6):
        inside = s.image[s.mask].astype(float).mean(0)
        direction = inside / np.linalg.norm(inside)  # hue, whatever the brightness jitter
        cosines = colours @ direction / np.linalg.norm(colours, axis=1)
        assert int(np.argmax(cosines)) == s.label


def test_mask_box_clips_to_the_last_pixel_like_the_evaluation():
    mask = np.zeros((10, 10), dtype=bool)
    mask[3:10, 0:4] = True
    assert mask_box(mask) == (0, 3, 4, 9)


def test_bad_generator_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        generate("dev", 2, seed=0)
    with pytest.raises(ValueError, match="num_classes"):
        generate("train", 2, seed=0, num_classes=9)


def test_the_layout_is_written_in_the_official_line_formats(tmp_path):
    samples = generate("test", 5, seed=3)
    meta = write_wsol_layout(samples, tmp_path, split="test")
    assert meta == tmp_path / "metadata" / "Clutter" / "test"
    first = samples[0]
    lines = {
        name: (meta / name).read_text().splitlines()
        for name in ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")
    }
    assert lines["image_ids.txt"][0] == first.image_id == "test/circle/test_00000.png"
    assert lines["class_labels.txt"][0] == f"{first.image_id},0"
    assert lines["image_sizes.txt"][0] == f"{first.image_id},64,64"
    x0, y0, x1, y1 = first.box
    assert lines["localization.txt"][0] == f"{first.image_id},{x0},{y0},{x1},{y1}"
    assert all(len(v) == 5 for v in lines.values())
    assert (tmp_path / "images" / first.image_id).is_file()


def test_writing_twice_gives_identical_files(tmp_path):
    for root in (tmp_path / "a", tmp_path / "b"):
        write_wsol_layout(generate("test", 4, seed=9), root, split="test", localization="masks")
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == 4 * 3 + 4  # image, mask, ignore per sample; 4 metadata files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_a_box_layout_reads_back_what_was_written(tmp_path):
    samples = generate("test", 6, seed=4)
    meta = write_wsol_layout(samples, tmp_path, split="test")
    layout = read_wsol_layout(meta, image_root=tmp_path / "images")
    assert layout.kind == "boxes"
    assert layout.image_ids == tuple(s.image_id for s in samples)
    assert layout.class_labels == {s.image_id: s.label for s in samples}
    assert layout.image_sizes == {s.image_id: (64, 64) for s in samples}
    assert layout.boxes == {s.image_id: [s.box] for s in samples}


def test_boxes_are_rescaled_to_the_heatmap_frame(tmp_path):
    samples = generate("test", 2, seed=4)
    meta = write_wsol_layout(samples, tmp_path, split="test")
    layout = read_wsol_layout(meta)
    x0, y0, x1, y1 = samples[1].box
    # A (H, W) = (128, 32) map: y doubles, x halves (truncated).
    assert layout.boxes_for(samples[1].image_id, (128, 32)) == [
        (int(x0 * 32 / 64), int(y0 * 128 / 64), int(x1 * 32 / 64), int(y1 * 128 / 64))
    ]


def test_a_mask_layout_reads_back_the_masks(tmp_path):
    samples = generate("test", 3, seed=8)
    meta = write_wsol_layout(samples, tmp_path, split="test", localization="masks")
    layout = read_wsol_layout(meta, mask_root=tmp_path / "masks")
    assert layout.kind == "masks"
    masks, ignores = load_masks(layout, tmp_path / "masks")
    for s in samples:
        np.testing.assert_array_equal(masks[s.image_id], s.mask)
        assert not ignores[s.image_id].any()
    small, _ = load_masks(layout, tmp_path / "masks", shape=(32, 32))
    assert small[samples[0].image_id].shape == (32, 32)


@pytest.fixture
def layout_dir(tmp_path) -> Path:
    return write_wsol_layout(generate("test", 3, seed=1), tmp_path, split="test")


def save_heatmaps(root: Path, ids, *, skip=()) -> None:
    for image_id in ids:
        if image_id in skip:
            continue
        path = root / Path(image_id).with_suffix(".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.random.default_rng(0).random((64, 64)))


def test_heatmaps_load_by_image_id_from_either_official_name(layout_dir, tmp_path):
    layout = read_wsol_layout(layout_dir)
    root = tmp_path / "heatmaps"
    save_heatmaps(root, layout.image_ids[:2])
    last = layout.image_ids[2]
    (root / (last + ".npy")).parent.mkdir(parents=True, exist_ok=True)
    np.save(root / (last + ".npy"), np.ones((8, 8), dtype=np.float32))  # CamDataset's <id>.npy
    heatmaps = load_heatmaps(layout, root)
    assert list(heatmaps) == list(layout.image_ids)
    assert heatmaps[last].dtype == np.float64 and heatmaps[last].shape == (8, 8)


def test_a_missing_heatmap_is_refused_by_image_id(layout_dir, tmp_path):
    layout = read_wsol_layout(layout_dir)
    missing = layout.image_ids[1]
    save_heatmaps(tmp_path / "heatmaps", layout.image_ids, skip={missing})
    with pytest.raises(LayoutError, match=f"No heatmap for image id '{missing}'"):
        load_heatmaps(layout, tmp_path / "heatmaps")


def test_a_heatmap_that_is_not_a_2d_array_or_needs_unpickling_is_refused(layout_dir, tmp_path):
    layout = read_wsol_layout(layout_dir)
    root = tmp_path / "heatmaps"
    save_heatmaps(root, layout.image_ids)
    first = layout.image_ids[0]
    np.save(root / Path(first).with_suffix(".npy"), np.zeros((4, 4, 3)))
    with pytest.raises(LayoutError, match=f"'{first}' must be a 2-D"):
        load_heatmaps(layout, root)
    np.save(root / Path(first).with_suffix(".npy"), np.array([{"a": 1}], dtype=object))
    with pytest.raises(LayoutError, match="not a .npy array"):
        load_heatmaps(layout, root)


def test_a_missing_image_is_refused_by_image_id(layout_dir, tmp_path):
    images = layout_dir.parents[2] / "images"
    victim = read_wsol_layout(layout_dir).image_ids[2]
    (images / victim).unlink()
    with pytest.raises(LayoutError, match=f"No image for image id '{victim}'"):
        read_wsol_layout(layout_dir, image_root=images)


def rewrite(path: Path, transform) -> None:
    path.write_text("".join(line + "\n" for line in transform(path.read_text().splitlines())))


def test_an_image_without_a_box_line_is_refused(layout_dir):
    victim = read_wsol_layout(layout_dir).image_ids[1]
    rewrite(layout_dir / "localization.txt", lambda ls: [x for x in ls if not x.startswith(victim)])
    with pytest.raises(LayoutError, match=f"localization.txt has no line for image id '{victim}'"):
        read_wsol_layout(layout_dir)


@pytest.mark.parametrize(
    ("name", "transform", "message"),
    [
        ("class_labels.txt", lambda ls: ls + ["test/ghost.png,1"], "'test/ghost.png' is not in"),
        ("class_labels.txt", lambda ls: [ls[0] + ",3"] + ls[1:], "line 1: expected 2"),
        ("image_sizes.txt", lambda ls: ls[:1] + ["x" + ls[1]] + ls[2:], "line 2"),
        (
            "localization.txt",
            lambda ls: [",".join(ls[0].split(",")[:3] + ["0", "0"])] + ls[1:],
            "0 <= x0 <= x1",
        ),
        ("localization.txt", lambda ls: ls + [ls[0].split(",")[0] + ",a.png,"], "on every line"),
        ("image_ids.txt", lambda ls: ls + ls[:1], "more than once"),
    ],
)
def test_malformed_metadata_is_refused_with_the_line(layout_dir, name, transform, message):
    rewrite(layout_dir / name, transform)
    with pytest.raises(LayoutError, match=message):
        read_wsol_layout(layout_dir)


def test_a_box_layout_without_image_sizes_is_refused(layout_dir):
    (layout_dir / "image_sizes.txt").unlink()
    with pytest.raises(LayoutError, match="no image_sizes.txt"):
        read_wsol_layout(layout_dir)
