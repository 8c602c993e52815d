"""The CoPhy on-disk layout: what is written reads back, and every malformed file is reported
under its example's id."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ml.cophy.layout import (
    LayoutError,
    describe_intervention,
    intervention,
    read_example,
    read_examples,
    write_example,
)

from .cophy_data import balls, tower


def _zip(root: Path, prefix: str = "") -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(root).as_posix())
    buffer.seek(0)
    return buffer


def _assert_same(a, b):
    assert a.example_id == b.example_id and a.scenario == b.scenario
    np.testing.assert_array_equal(a.ab, b.ab)
    np.testing.assert_array_equal(a.cd, b.cd)
    np.testing.assert_array_equal(a.confounders, b.confounders)
    assert a.colors == b.colors and a.colors_cd == b.colors_cd
    assert a.gravity == b.gravity and a.explanation == b.explanation


@pytest.fixture
def written(tmp_path):
    examples = [
        tower("blocktowerCF/3/1"),
        tower("blocktowerCF/3/2", remove_top=True),
        tower("blocktowerCF/4/10", slots=(3, 0, 2, 1), moved=0),
        balls("ballsCF/2/7"),
    ]
    for example in examples:
        write_example(tmp_path, example)
    return tmp_path, examples


def test_what_is_written_reads_back_identically_from_a_folder_and_a_zip(written):
    root, examples = written
    assert (root / "blocktowerCF/3/1/ab/states.npy").exists()
    assert (root / "blocktowerCF/3/1/gravity.txt").read_text() == "gravity_x=0.5 gravity_y=0.0\n"
    from_folder = read_examples(root)
    assert from_folder.ok and len(from_folder.examples) == 4
    by_id = {e.example_id: e for e in from_folder.examples}
    for example in examples:
        _assert_same(by_id[example.example_id], example)
        _assert_same(read_example(root / example.example_id), example)
    # A zip whose root holds the scenario folders, and one with a wrapping folder.
    for prefix in ("", "CoPhy_224/"):
        from_zip = read_examples(_zip(root, prefix))
        assert from_zip.ok
        for a, b in zip(from_zip.examples, from_folder.examples, strict=True):
            _assert_same(a, b)


def test_the_slots_follow_the_palette_and_the_colour_lines_give_the_tower_order(written):
    root, _ = written
    example = read_example(root / "blocktowerCF/4/10")
    assert example.colors[0] == "type=cube color=yellow"
    assert example.tower_order() == [3, 0, 2, 1]
    assert example.slot_color(3) == "yellow" and example.n_objects == 4


def test_videos_and_bounding_boxes_are_optional_and_ignored(written):
    root, _ = written
    (root / "blocktowerCF/3/1/ab/rgb.mp4").write_bytes(b"not really a video")
    np.save(root / "blocktowerCF/3/1/ab/bboxes.npy", np.zeros((30, 4, 4)))
    assert read_examples(root).ok


def test_official_float64_arrays_and_bare_colour_lines_are_accepted(written):
    root, _ = written
    folder = root / "blocktowerCF/3/1"
    for run in ("ab", "cd"):
        states = np.load(folder / run / "states.npy").astype(np.float64)
        np.save(folder / run / "states.npy", states)
        (folder / run / "colors.txt").write_text("red\ngreen\nblue\n")
    example = read_example(folder)
    assert example.ab.dtype == np.float32 and example.tower_order() == [0, 1, 2]


def _break(root: Path, example_id: str, what: str) -> None:
    folder = root / example_id
    states = np.load(folder / "cd/states.npy")
    if what == "shape":
        np.save(folder / "cd/states.npy", states[:29])
    elif what == "nan":
        states[4, 1, 0] = np.nan
        np.save(folder / "cd/states.npy", states)
    elif what == "quaternion":
        states[7, 1, 3:7] = (0.0, 0.0, 0.0, 2.0)
        np.save(folder / "cd/states.npy", states)
    elif what == "missing":
        (folder / "confounders.npy").unlink()
    elif what == "confounders":
        np.save(folder / "confounders.npy", np.zeros((3, 2)))
    elif what == "colors":
        (folder / "ab/colors.txt").write_text("type=cube color=red\n")
    elif what == "pickle":
        np.save(folder / "confounders.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif what == "gravity":
        (folder / "gravity.txt").write_text("down, mostly\n")


@pytest.mark.parametrize(
    "what, message",
    [
        ("shape", "cd/states.npy: shape (29, 4, 13), expected (30, K, 13)"),
        ("nan", "cd/states.npy: not finite at t=4, object 1, column 0"),
        ("quaternion", "cd/states.npy: quaternion of object 1 at t=7 has norm 2.0000, not 1"),
        ("missing", "missing confounders.npy"),
        ("confounders", "confounders.npy: shape (3, 2), expected (4, 2) for K=4"),
        ("colors", "ab/colors.txt: lists ['red'] but the objects present in states.npy are"),
        ("pickle", "confounders.npy: cannot be read as a .npy array"),
        ("gravity", "gravity.txt: expected 'gravity_x=<number> gravity_y=<number>'"),
    ],
)
def test_a_malformed_example_is_reported_under_its_id_and_the_others_still_read(
    written, what, message
):
    root, _ = written
    _break(root, "blocktowerCF/3/2", what)
    result = read_examples(root)
    assert list(result.problems) == ["blocktowerCF/3/2"]
    assert any(p.startswith(message) for p in result.problems["blocktowerCF/3/2"]), result.problems
    assert sorted(e.example_id for e in result.examples) == [
        "ballsCF/2/7",
        "blocktowerCF/3/1",
        "blocktowerCF/4/10",
    ]
    with pytest.raises(LayoutError, match="blocktowerCF/3/2"):
        read_example(root / "blocktowerCF/3/2")


def test_the_object_count_folder_must_match_the_tower(written):
    root, _ = written
    shutil.copytree(root / "blocktowerCF/3/1", root / "blocktowerCF/4/99")
    result = read_examples(root)
    assert result.problems == {
        "blocktowerCF/4/99": ["ab/states.npy: 3 objects present, but the folder says 4"]
    }


def test_folders_outside_the_official_layout_are_reported(written):
    root, _ = written
    shutil.copytree(root / "blocktowerCF/3/1", root / "towers/1")
    shutil.copytree(root / "blocktowerCF/3/1", root / "blocktowerCF/7/1")
    problems = read_examples(root).problems
    assert problems["towers/1"] == ["not inside a blocktowerCF/, ballsCF/ or collisionCF/ folder"]
    assert problems["blocktowerCF/7/1"] == ["expected blocktowerCF/<3|4>/<id>/"]


def test_a_zip_entry_that_escapes_the_archive_refuses_the_whole_archive(written):
    root, _ = written
    buffer = _zip(root)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("../../etc/evil.txt", "x")
    buffer.seek(0)
    with pytest.raises(LayoutError, match="points outside the archive"):
        read_examples(buffer)


def test_something_that_is_not_a_benchmark_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LayoutError, match="No CoPhy example found"):
        read_examples(tmp_path)
    with pytest.raises(LayoutError, match="not a zip"):
        read_examples(io.BytesIO(b"plain bytes"))


def test_the_intervention_is_read_off_the_first_frames():
    displaced = intervention(tower(moved=1, dx=-0.35))
    assert displaced is not None and displaced.to_dict() == {
        "object": 1,
        "kind": "displace",
        "delta": (-0.35, 0.0, 0.0),
    }
    removed = intervention(tower(remove_top=True))
    assert removed is not None and (removed.object, removed.kind, removed.delta) == (
        2,
        "remove",
        None,
    )
    moved = intervention(balls(shift=(0.0, 1.0)))
    assert moved is not None and (moved.object, moved.kind) == (0, "move")
    assert moved.delta == (0.0, 1.0, 0.0)
    assert describe_intervention(tower(moved=1, dx=-0.35)) == (
        "The green block was moved 0.35 along −x."
    )
    assert describe_intervention(tower(remove_top=True)) == "The blue block was removed."
    assert intervention(balls(shift=(0.0, 0.0))) is None
