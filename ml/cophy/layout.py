"""The CoPhy benchmark's on-disk layout (PROTOCOLS.md §3.3), read and written by one module.

An **example** is a folder named by its path under the benchmark root::

    blocktowerCF/<3|4>/<id>/   ballsCF/<2..6>/<id>/   collisionCF/<id>/
      ab/states.npy    (T, K, 13) float: position x,y,z · quaternion x,y,z,w (PyBullet's
                       order, as the official data, which PyBullet produced) · linear
                       velocity x,y,z · angular velocity x,y,z
      ab/colors.txt    one line per object of the run (bottom → top for towers)
      cd/states.npy    the counterfactual run, same shape
      cd/colors.txt
      confounders.npy  (K, H) rounded to 1 decimal: towers (mass, friction); balls and
                       collision (mass, friction, restitution)
      gravity.txt      towers only: ``gravity_x=<f> gravity_y=<f>``
      explanations.txt balls and collision: the intervention in words
      (ab|cd)/rgb.mp4, segm.mp4, bboxes.npy   optional here, ignored

**Slots.** The K axis of ``states.npy`` and ``confounders.npy`` is a fixed colour palette per
scenario (:data:`PALETTES`): slot ``k`` is always the object of colour ``PALETTES[s][k]``,
which is how the official loaders index confounders and object types
(``COLORS.index(color)``). An absent object (a tower of 3 in 4 slots, the removed block in
CD) has an all-zero pose; presence is ``Σ|pos_t0| > 0``.

A colour line is either a bare colour (``red``) or ``key=value`` tokens with a ``color`` key
(``type=cylinder_up color=blue``); lines naming no palette colour (a header) are skipped.
We write ``type=<cube|sphere|cylinder_*> color=<name>``.

:func:`read_examples` validates every example and reports problems per example id instead of
stopping at the first one, so an importer can show them all and store nothing.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

SCENARIOS = ("blocktower", "balls", "collision")
FOLDERS = {"blocktower": "blocktowerCF", "balls": "ballsCF", "collision": "collisionCF"}
SCENARIO_OF_FOLDER = {v: k for k, v in FOLDERS.items()}
TITLES = {"blocktower": "Block tower", "balls": "Balls", "collision": "Collision"}

PALETTES: dict[str, tuple[str, ...]] = {
    "blocktower": ("red", "green", "blue", "yellow"),
    "balls": ("red", "green", "blue", "yellow", "lime", "purple", "orange", "cyan", "magenta"),
    "collision": ("yellow", "green", "blue", "red"),
}
OBJECT_TYPES = {
    "blocktower": ("cube",),
    "balls": ("sphere",),
    "collision": ("sphere", "cylinder_up", "cylinder_down"),
}
TIMESTEPS = {"blocktower": 30, "balls": 30, "collision": 15}  # at 5 fps
FPS = 5
CONFOUNDERS = {
    "blocktower": ("mass", "friction"),
    "balls": ("mass", "friction", "restitution"),
    "collision": ("mass", "friction", "restitution"),
}
OBJECT_COUNTS = {"blocktower": (3, 4), "balls": (2, 3, 4, 5, 6)}  # the <n> folder level
# Object sizes in metres, for drawing a replay. Towers: the official unit cubes. Balls and
# collision: those of our generator (ml.cophy.sim); the official release does not state its.
CUBE_HALF_EXTENT = 0.5
SPHERE_RADIUS = 0.3
CYLINDER_RADIUS = 0.3
CYLINDER_HEIGHT = 1.2
BALLS_ARENA = 3.0  # balls roll inside walls at x, y = ±3
STATE_DIM = 13
POSITION = slice(0, 3)
QUATERNION = slice(3, 7)
QUATERNION_TOLERANCE = 1e-3
MAX_FILE_BYTES = 16 * 2**20  # a states.npy is ~30 KB; anything near this is not one

REQUIRED = ("ab/states.npy", "cd/states.npy", "ab/colors.txt", "cd/colors.txt", "confounders.npy")
EXTRA_REQUIRED = {
    "blocktower": ("gravity.txt",),
    "balls": ("explanations.txt",),
    "collision": ("explanations.txt",),
}
KNOWN_FILES = set(REQUIRED) | {"gravity.txt", "explanations.txt"}


class LayoutError(ValueError):
    """The archive or folder cannot be read at all (an unsafe zip entry, no examples)."""


@dataclass(frozen=True, eq=False)
class Example:
    """One CoPhy experiment: observed run AB, counterfactual run CD, hidden confounders."""

    example_id: str  # "blocktowerCF/3/17": the folder path under the benchmark root
    scenario: str  # blocktower | balls | collision
    ab: np.ndarray  # (T, K, 13) float32
    cd: np.ndarray  # (T, K, 13) float32
    confounders: np.ndarray  # (K, H) float32, rounded to 1 decimal
    colors: tuple[str, ...]  # ab/colors.txt, one line per object
    colors_cd: tuple[str, ...]  # cd/colors.txt (one line fewer when a block was removed)
    gravity: tuple[float, float] | None = None  # towers: (gravity_x, gravity_y)
    explanation: str | None = None  # balls and collision

    @property
    def T(self) -> int:
        return int(self.ab.shape[0])

    @property
    def K(self) -> int:
        return int(self.ab.shape[1])

    @property
    def presence_ab(self) -> np.ndarray:
        return presence(self.ab)

    @property
    def presence_cd(self) -> np.ndarray:
        return presence(self.cd)

    @property
    def n_objects(self) -> int:
        return int(self.presence_ab.sum())

    def slot_color(self, k: int) -> str:
        palette = PALETTES[self.scenario]
        return palette[k] if k < len(palette) else f"object {k + 1}"

    def object_types(self, run: str = "ab") -> dict[int, str]:
        """Slot → object type named in that run's colour lines (collision: sphere/cylinder)."""
        lines = self.colors if run == "ab" else self.colors_cd
        out: dict[int, str] = {}
        for line in lines:
            fields = parse_color_line(line)
            slot = _slot_of(self.scenario, fields.get("color", ""))
            if slot is not None:
                out[slot] = fields.get("type", OBJECT_TYPES[self.scenario][0])
        return out

    def tower_order(self, run: str = "ab") -> list[int]:
        """Slots from bottom to top, as the colour lines list them."""
        lines = self.colors if run == "ab" else self.colors_cd
        slots = [_slot_of(self.scenario, parse_color_line(x).get("color", "")) for x in lines]
        return [s for s in slots if s is not None]


@dataclass(frozen=True)
class Intervention:
    """What do(X₀ = C) changed: ``kind`` is ``displace`` (a tower block moved sideways),
    ``remove`` (the top block taken away) or ``move`` (a ball or collision object moved);
    ``delta`` is C's position minus A's (None for ``remove``)."""

    object: int  # slot index
    kind: str
    delta: tuple[float, float, float] | None

    def to_dict(self) -> dict:
        return {"object": self.object, "kind": self.kind, "delta": self.delta}


@dataclass
class ReadResult:
    examples: list[Example]
    problems: dict[str, list[str]] = field(default_factory=dict)  # example id → messages

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------- derived quantities


def presence(states: np.ndarray) -> np.ndarray:
    """(K,) float32 1/0: an object is present when its first position is not all zero."""
    return (np.abs(states[0, :, POSITION]).sum(-1) > 0).astype(np.float32)


def parse_color_line(line: str) -> dict[str, str]:
    """``"type=sphere color=red"`` → {"type": "sphere", "color": "red"}; ``"red"`` → {"color": "red"}."""
    line = line.strip()
    if "=" not in line:
        return {"color": line.lower()} if line else {}
    out = {}
    for token in line.split():
        key, _, value = token.partition("=")
        out[key.strip().lower()] = value.strip().lower()
    return out


def _slot_of(scenario: str, color: str) -> int | None:
    palette = PALETTES[scenario]
    return palette.index(color) if color in palette else None


def intervention(example: Example, tolerance: float = 1e-4) -> Intervention | None:
    """The object C differs from A in, found by comparing the first frames of AB and CD.

    None when A and C have the same poses (an intervention on something else, e.g. a velocity).
    """
    pa, pc = example.presence_ab, example.presence_cd
    removed = np.flatnonzero((pa > 0) & (pc == 0))
    if removed.size:
        return Intervention(int(removed[0]), "remove", None)
    shift = example.cd[0, :, POSITION] - example.ab[0, :, POSITION]
    size = np.abs(shift).sum(-1) * pa * pc
    k = int(np.argmax(size))
    if size[k] <= tolerance:
        return None
    kind = "displace" if example.scenario == "blocktower" else "move"
    delta = tuple(round(float(d), 4) for d in shift[k])
    return Intervention(k, kind, delta)  # type: ignore[arg-type]


def describe_intervention(example: Example) -> str:
    """The intervention in words, for a participant: 'The blue block was removed.'"""
    change = intervention(example)
    if change is None:
        return example.explanation or "Nothing in the starting positions was changed."
    noun = "block" if example.scenario == "blocktower" else "ball"
    if example.scenario == "collision":
        noun = example.object_types("ab").get(change.object, "object").split("_")[0]
    name = f"The {example.slot_color(change.object)} {noun}"
    if change.kind == "remove":
        return f"{name} was removed."
    assert change.delta is not None
    parts = [
        f"{abs(d):.2f} along {'+' if d > 0 else '−'}{axis}"
        for axis, d in zip("xyz", change.delta, strict=True)
        if abs(d) > 1e-3
    ]
    return f"{name} was moved {' and '.join(parts)}."


# ---------------------------------------------------------------- writing


def _color_lines(scenario: str, slots: Iterable[int], types: dict[int, str] | None) -> list[str]:
    palette = PALETTES[scenario]
    default = OBJECT_TYPES[scenario][0]
    return [f"type={(types or {}).get(k, default)} color={palette[k]}" for k in slots]


def color_lines(scenario: str, slots: Iterable[int], types: dict[int, str] | None = None):
    """Colour lines in our format for ``slots`` (in the order given: bottom → top for towers)."""
    return tuple(_color_lines(scenario, slots, types))


def write_example(root: Path, example: Example) -> Path:
    """Write ``example`` under ``root/<example_id>`` in the official layout; returns the folder."""
    folder = Path(root) / example.example_id
    for run, states, lines in (
        ("ab", example.ab, example.colors),
        ("cd", example.cd, example.colors_cd),
    ):
        (folder / run).mkdir(parents=True, exist_ok=True)
        np.save(folder / run / "states.npy", np.asarray(states, dtype=np.float32))
        (folder / run / "colors.txt").write_text("".join(f"{line}\n" for line in lines))
    confounders = np.round(np.asarray(example.confounders, dtype=np.float32), 1)
    np.save(folder / "confounders.npy", confounders)
    if example.gravity is not None:
        gx, gy = example.gravity
        (folder / "gravity.txt").write_text(f"gravity_x={gx} gravity_y={gy}\n")
    if example.explanation is not None:
        (folder / "explanations.txt").write_text(example.explanation.strip() + "\n")
    return folder


# ---------------------------------------------------------------- reading


class _Tree:
    """Files of a folder or a zip as POSIX paths relative to its root, read on demand."""

    def __init__(self, files: dict[str, int], read: Callable[[str], bytes]):
        self.files = files  # path → size in bytes
        self._read = read

    def read(self, path: str) -> bytes:
        if self.files[path] > MAX_FILE_BYTES:
            raise ValueError(f"{self.files[path]} bytes, more than {MAX_FILE_BYTES} allowed")
        return self._read(path)

    @classmethod
    def of_folder(cls, root: Path) -> _Tree:
        files = {
            p.relative_to(root).as_posix(): p.stat().st_size
            for p in root.rglob("*")
            if p.is_file() and not p.is_symlink()
        }
        return cls(files, lambda rel: (root / rel).read_bytes())

    @classmethod
    def of_zip(cls, archive: zipfile.ZipFile) -> _Tree:
        files = {}
        for info in archive.infolist():
            name = info.filename
            if info.is_dir():
                continue
            path = PurePosixPath(name.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
                raise LayoutError(f"Zip entry {name!r} points outside the archive; refused.")
            files[path.as_posix()] = info.file_size
        return cls(files, archive.read)


def _example_folders(tree: _Tree) -> dict[str, set[str]]:
    """Candidate example folders → the layout files found in each."""
    folders: dict[str, set[str]] = {}
    for path in tree.files:
        parts = PurePosixPath(path).parts
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue
        if len(parts) >= 3 and parts[-2] in ("ab", "cd"):
            folder, rel = "/".join(parts[:-2]), "/".join(parts[-2:])
        elif parts[-1] in ("confounders.npy", "gravity.txt", "explanations.txt"):
            folder, rel = "/".join(parts[:-1]), parts[-1]
        else:
            continue
        folders.setdefault(folder, set()).add(rel)
    return folders


def _identify(folder: str) -> tuple[str, str, int | None] | str:
    """(example id, scenario, object count of the <n> level) or a problem message."""
    parts = PurePosixPath(folder).parts
    for i, part in enumerate(parts):
        scenario = SCENARIO_OF_FOLDER.get(part)
        if scenario is None:
            continue
        rest = parts[i + 1 :]
        if scenario == "collision":
            if len(rest) != 1:
                return "expected collisionCF/<id>/"
            return "/".join(parts[i:]), scenario, None
        counts = OBJECT_COUNTS[scenario]
        if len(rest) != 2 or not rest[0].isdigit() or int(rest[0]) not in counts:
            allowed = "|".join(str(c) for c in counts)
            return f"expected {part}/<{allowed}>/<id>/"
        return "/".join(parts[i:]), scenario, int(rest[0])
    return "not inside a blocktowerCF/, ballsCF/ or collisionCF/ folder"


def _load_npy(data: bytes) -> np.ndarray:
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise ValueError("not a single array")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"dtype {array.dtype} is not numeric")
    return array


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig")


def _check_states(name: str, states: np.ndarray, scenario: str, problems: list[str]) -> bool:
    T = TIMESTEPS[scenario]
    if states.ndim != 3 or states.shape[0] != T or states.shape[2] != STATE_DIM:
        problems.append(f"{name}: shape {states.shape}, expected ({T}, K, {STATE_DIM})")
        return False
    if not np.isfinite(states).all():
        bad = np.argwhere(~np.isfinite(states))[0]
        problems.append(f"{name}: not finite at t={bad[0]}, object {bad[1]}, column {bad[2]}")
        return False
    present = presence(states) > 0
    if not present.any():
        problems.append(f"{name}: no object present (every first position is zero)")
        return False
    norms = np.linalg.norm(states[:, :, QUATERNION].astype(np.float64), axis=-1)
    off = np.abs(norms - 1.0) > QUATERNION_TOLERANCE
    off &= present[None, :]
    if off.any():
        t, k = np.argwhere(off)[0]
        problems.append(
            f"{name}: quaternion of object {k} at t={t} has norm {norms[t, k]:.4f}, not 1"
        )
        return False
    return True


def _check_colors(
    name: str, lines: tuple[str, ...], states: np.ndarray, scenario: str, problems: list[str]
) -> None:
    palette = PALETTES[scenario]
    named = [parse_color_line(x).get("color", "") for x in lines]
    slots = [palette.index(c) for c in named if c in palette]
    present = set(np.flatnonzero(presence(states) > 0).tolist())
    if len(slots) != len(set(slots)):
        problems.append(f"{name}: a colour is listed twice")
    elif states.shape[1] == len(palette) and set(slots) != present:
        problems.append(
            f"{name}: lists {sorted(palette[s] for s in slots)} but the objects present in "
            f"states.npy are {sorted(palette[s] for s in present)}"
        )
    elif len(slots) != len(present):
        problems.append(
            f"{name}: {len(slots)} object line(s) but {len(present)} object(s) in states.npy"
        )
    types = OBJECT_TYPES[scenario]
    for line in lines:
        kind = parse_color_line(line).get("type")
        if kind is not None and kind not in types:
            problems.append(f"{name}: unknown object type {kind!r} (expected {', '.join(types)})")


def _parse_gravity(text: str) -> tuple[float, float]:
    match = re.search(r"gravity_x=(\S+)\s+gravity_y=(\S+)", text)
    if not match:
        raise ValueError("expected 'gravity_x=<number> gravity_y=<number>'")
    gx, gy = float(match.group(1)), float(match.group(2))
    if not (np.isfinite(gx) and np.isfinite(gy)):
        raise ValueError("gravity is not finite")
    return gx, gy


def _read_one(
    tree: _Tree, folder: str, example_id: str, scenario: str, count: int | None
) -> tuple[Example | None, list[str]]:
    problems: list[str] = []
    prefix = f"{folder}/" if folder else ""
    needed = REQUIRED + EXTRA_REQUIRED[scenario]
    missing = [rel for rel in needed if prefix + rel not in tree.files]
    if missing:
        return None, [f"missing {', '.join(missing)}"]

    arrays: dict[str, np.ndarray] = {}
    for rel in ("ab/states.npy", "cd/states.npy", "confounders.npy"):
        try:
            arrays[rel] = _load_npy(tree.read(prefix + rel))
        except Exception as exc:  # noqa: BLE001 — any unreadable file is reported, not raised
            problems.append(f"{rel}: cannot be read as a .npy array ({exc})")
    texts: dict[str, str] = {}
    for rel in needed:
        if rel.endswith(".txt"):
            try:
                texts[rel] = _text(tree.read(prefix + rel))
            except (UnicodeDecodeError, ValueError) as exc:
                problems.append(f"{rel}: not UTF-8 text ({exc})")
    if problems:
        return None, problems

    ab, cd, conf = arrays["ab/states.npy"], arrays["cd/states.npy"], arrays["confounders.npy"]
    good = _check_states("ab/states.npy", ab, scenario, problems)
    good = _check_states("cd/states.npy", cd, scenario, problems) and good
    H = len(CONFOUNDERS[scenario])
    if not good:
        return None, problems
    if ab.shape != cd.shape:
        problems.append(f"cd/states.npy: shape {cd.shape} differs from ab/states.npy {ab.shape}")
    K = ab.shape[1]
    if conf.shape != (K, H):
        problems.append(f"confounders.npy: shape {conf.shape}, expected ({K}, {H}) for K={K}")
    elif not np.isfinite(conf).all():
        problems.append("confounders.npy: not finite")
    n_ab = int(presence(ab).sum())
    if count is not None and n_ab != count:
        problems.append(f"ab/states.npy: {n_ab} objects present, but the folder says {count}")

    colors = tuple(x.strip() for x in texts["ab/colors.txt"].splitlines() if x.strip())
    colors_cd = tuple(x.strip() for x in texts["cd/colors.txt"].splitlines() if x.strip())
    if not problems:
        _check_colors("ab/colors.txt", colors, ab, scenario, problems)
        _check_colors("cd/colors.txt", colors_cd, cd, scenario, problems)

    gravity = None
    if "gravity.txt" in texts:
        try:
            gravity = _parse_gravity(texts["gravity.txt"])
        except ValueError as exc:
            problems.append(f"gravity.txt: {exc}")
    explanation = texts["explanations.txt"].strip() if "explanations.txt" in texts else None
    if problems:
        return None, problems
    example = Example(
        example_id=example_id,
        scenario=scenario,
        ab=ab.astype(np.float32),
        cd=cd.astype(np.float32),
        confounders=np.round(conf.astype(np.float32), 1),
        colors=colors,
        colors_cd=colors_cd,
        gravity=gravity,
        explanation=explanation,
    )
    return example, []


def _natural(example_id: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", example_id)]


def _read_tree(tree: _Tree) -> ReadResult:
    folders = _example_folders(tree)
    if not folders:
        raise LayoutError(
            "No CoPhy example found: expected folders like blocktowerCF/3/<id>/ab/states.npy, "
            "ballsCF/<n>/<id>/… or collisionCF/<id>/…"
        )
    result = ReadResult(examples=[])
    seen: dict[str, str] = {}
    for folder in sorted(folders, key=_natural):
        identity = _identify(folder)
        if isinstance(identity, str):
            result.problems[folder or "."] = [identity]
            continue
        example_id, scenario, count = identity
        if example_id in seen:
            result.problems[example_id] = [f"appears twice ({seen[example_id]!r} and {folder!r})"]
            continue
        seen[example_id] = folder
        example, problems = _read_one(tree, folder, example_id, scenario, count)
        if problems:
            result.problems[example_id] = problems
        elif example is not None:
            result.examples.append(example)
    result.examples.sort(key=lambda e: _natural(e.example_id))
    return result


def read_examples(source: Path | str | zipfile.ZipFile | io.IOBase) -> ReadResult:
    """Every example under a benchmark root folder or in a zip whose root holds the scenario
    folders (one wrapping folder is fine); problems are keyed by example id.

    Raises :class:`LayoutError` when nothing can be read (no example, an unsafe zip entry).
    """
    if isinstance(source, zipfile.ZipFile):
        return _read_tree(_Tree.of_zip(source))
    if isinstance(source, io.IOBase):
        try:
            with zipfile.ZipFile(source) as archive:  # type: ignore[arg-type]
                return _read_tree(_Tree.of_zip(archive))
        except zipfile.BadZipFile as exc:
            raise LayoutError(f"Not a zip archive: {exc}") from exc
    path = Path(source)
    if path.is_dir():
        return _read_tree(_Tree.of_folder(path))
    if not path.exists():
        raise LayoutError(f"{path} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_tree(_Tree.of_zip(archive))
    except zipfile.BadZipFile as exc:
        raise LayoutError(f"{path.name} is neither a folder nor a zip archive: {exc}") from exc


def read_example(folder: Path | str) -> Example:
    """One example folder (``…/blocktowerCF/3/17``); raises :class:`LayoutError` listing its
    problems. The scenario and id come from the folder's last path components."""
    folder = Path(folder).resolve()
    parts = folder.parts
    for depth in (1, 2):
        if len(parts) > depth and parts[-depth - 1] in SCENARIO_OF_FOLDER:
            break
    else:
        raise LayoutError(
            f"{folder} is not inside a blocktowerCF/, ballsCF/ or collisionCF/ folder."
        )
    rel = "/".join(parts[-depth - 1 :])
    identity = _identify(rel)
    if isinstance(identity, str):
        raise LayoutError(f"{folder}: {identity}")
    example_id, scenario, count = identity
    tree = _Tree.of_folder(folder)
    example, problems = _read_one(tree, "", example_id, scenario, count)
    if example is None:
        raise LayoutError(f"{example_id}: " + "; ".join(problems))
    return example
