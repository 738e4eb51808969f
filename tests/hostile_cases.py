"""The hostile-input matrix (issue #31, part 6): what a careless or hostile user can hand fastadapt (broken archives and
photos, unsafe or damaged checkpoints, impossible configurations, occupied run folders, bad tensors at the API, full
disks and interrupted writes) and what fastadapt must do with it.

Each `Case` performs one such action in a fresh temporary folder and returns the `Outcome` it observed:

* CLI cases run ``fastadapt.cli.main`` in this process and observe the exit code and the error line on stderr;
* API cases call the library and observe the exception type and message (or the result).

A case expects either a **clear error** or a **correct result**:

* clear error: exit code 2 (CLI; 130 for an interruption) or a ``ValueError`` / ``TypeError`` / ``OSError`` / one of
  fastadapt's own error classes (API), a message that names what was wrong (it must contain the case's ``match``),
  and no ``Traceback`` on stderr;
* correct result: the command or call succeeds and the case's own check of the result passes.

``tests/test_hostile_matrix.py`` asserts every case in CI; ``scripts/reliability_matrix.py`` runs them all and writes
the table of expected and observed outcomes in ``docs/reliability.md``."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

CATEGORIES = ("data", "checkpoints", "configs", "folders", "api", "faults")
PRESET = "omniglot-protonet-5w1s"
# A real training of two steps on Omniglot, as small as it gets (used by the run-folder cases that need a run).
TINY = [
    "steps=2",
    "train_ways=5",
    "hidden=8",
    "log_every=1",
    "ckpt_every=2",
    "val_every=2",
    "val_episodes=2",
    "eval_episodes=2",
    "queries=1",
    "train_queries=1",
    "device=cpu",
]


# ----------------------------------------------------------------------------------------------- outcomes and cases


@dataclass
class Outcome:
    """What a case observed. ``kind``: "error" (a clean refusal), "ok" (success and the check passed), "wrong" (success
    or refusal, but the check of the result or of the files failed: a silent wrong result), "crash" (a traceback, an
    internal-error exit, or an exception type that is not a clear error)."""

    kind: str
    message: str
    code: int | None = None  # CLI exit code
    exc: str = ""  # API exception type
    traceback: bool = False
    stderr: str = ""  # CLI: all of stderr

    def summary(self) -> str:
        head = f"exit {self.code}" if self.code is not None else (self.exc or "returned")
        return f"{head}: {self.message}" + (" [Traceback on stderr]" if self.traceback else "")


@dataclass
class Case:
    id: str
    category: str
    action: str  # what the hostile user does
    expect: str  # "error" or "ok"
    match: str  # error: substring of the message; ok: what the check verifies
    run: Callable[[Ctx], Outcome]
    code: int = 2  # expected CLI exit code of an error
    needs: tuple[str, ...] = ()  # "omniglot", "flowers": real data under the data root
    open: str = ""  # a known problem left open (not asserted in CI), with why
    found: str = ""  # a bug this case found (fixed in src): what happened before the fix

    def expected(self) -> str:
        if self.expect == "ok":
            return f"correct result: {self.match}"
        return f'clear error{f" (exit {self.code})" if self.code != 2 else ""} containing "{self.match}"'


def verdict(case: Case, out: Outcome) -> tuple[bool, str]:
    """Whether ``out`` is what ``case`` expects, and why not."""
    if case.expect == "ok":
        return out.kind == "ok", f"expected a correct result ({case.match}), observed {out.kind}: {out.summary()}"
    if out.kind != "error":
        return False, f"expected a clear error, observed {out.kind}: {out.summary()}"
    if out.code is not None and out.code != case.code:
        return False, f"expected exit {case.code}, observed {out.summary()}"
    if case.match.lower() not in out.message.lower():
        return False, f"the message lacks {case.match!r}: {out.summary()}"
    return True, ""


CLEAR_API_ERRORS = (ValueError, TypeError, OSError)


def _first_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("fastadapt") and ("error:" in ln or "interrupted" in ln):
            return ln
    return lines[0] if lines else ""


def cli(args: list[str], check: Callable[[], str] | None = None, after: Callable[[], Any] | None = None) -> Outcome:
    """Run ``fastadapt ARGS`` in this process. ``check`` (after a success) returns a description of what it verified
    or raises AssertionError; ``after`` (after a clean error) raises AssertionError when something was damaged."""
    from fastadapt.cli import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else 2
    stderr = err.getvalue()
    tb = "Traceback" in stderr
    line = _first_error_line(stderr)
    if code == 0:
        try:
            return Outcome("ok", check() if check else "succeeded", code=0, stderr=stderr)
        except AssertionError as e:
            return Outcome("wrong", f"succeeded, but {e}", code=0, stderr=stderr)
    kind = "error" if code in (2, 130) and not tb else "crash"
    if kind == "error" and after is not None:
        try:
            after()
        except AssertionError as e:
            return Outcome("wrong", f"{line}; but {e}", code=code, stderr=stderr)
    return Outcome(kind, line, code=code, traceback=tb, stderr=stderr)


def api(
    fn: Callable[[], Any], check: Callable[[Any], str] | None = None, after: Callable[[], None] | None = None
) -> Outcome:
    """Call ``fn()``; an exception is a clear error when it is a ValueError / TypeError / OSError or one of
    fastadapt's own classes. ``check(result)`` verifies a success; ``after()`` verifies the files after an error."""
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 (the point is to classify any exception)
        clear = isinstance(e, CLEAR_API_ERRORS) or type(e).__module__.startswith("fastadapt")
        name, msg = type(e).__name__, str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        if clear and after is not None:
            try:
                after()
            except AssertionError as bad:
                return Outcome("wrong", f"{msg}; but {bad}", exc=name)
        return Outcome("error" if clear else "crash", msg, exc=name)
    try:
        return Outcome("ok", check(result) if check else "returned", exc="returned")
    except AssertionError as e:
        return Outcome("wrong", f"returned, but {e}", exc="returned")


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------------------------- shared context


class Ctx:
    """Temporary folders and the shared, lazily built fixtures of the cases (module scope in pytest)."""

    def __init__(self, root: Path, data_root: Path | None = None) -> None:
        self.root, self.data_root = Path(root), data_root
        self._made: dict[str, Any] = {}

    def folder(self, name: str) -> Path:
        path = self.root / "cases" / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def data(self) -> Path:
        if self.data_root is None:
            raise AssertionError("this case needs the real data root (FASTADAPT_DATA)")
        return self.data_root

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    # run folders made through the API (config.json + an untrained best checkpoint): no data, no training
    def run(self, kind: str = "gray") -> Path:
        specs = {
            "gray": (PRESET, {"hidden": 8}),
            "colour": (PRESET, {"hidden": 8, "channels": 3, "image_size": 16}),
            "maml": ("omniglot-maml-5w1s", {"hidden": 8}),
        }
        preset, over = specs[kind]
        return self._once(f"run-{kind}", lambda: make_run(self.root / "runs" / kind, preset, **over))

    def copy_run(self, kind: str, dest: Path) -> Path:
        shutil.copytree(self.run(kind), dest)
        return dest

    def learner(self, preset: str) -> Any:
        def make() -> Any:
            from fastadapt.configs import build_learner
            from fastadapt.presets import get_preset

            torch.manual_seed(0)
            over = {} if "sinusoid" in preset else {"hidden": 8}
            return build_learner({**get_preset(preset), **over}).eval()

        return self._once(f"learner-{preset}", make)

    def trained(self) -> tuple[Path, str]:
        """A real two-step Omniglot run, trained into a folder that already held a user's notes.md (the case
        'out-non-run-folder' checks that); returns the run folder and the stderr of its training."""

        def make() -> tuple[Path, str]:
            out = self.root / "runs" / "trained"
            out.mkdir(parents=True)
            (out / "notes.md").write_text("my notes")
            outcome = cli(train_args(out, self.data()))
            if outcome.kind != "ok":
                raise AssertionError(f"the tiny training failed: {outcome.summary()}")
            return out, outcome.message

        return self._once("trained", make)

    def copy_trained(self, dest: Path) -> Path:
        shutil.copytree(self.trained()[0], dest)
        return dest


def make_run(out: Path, preset: str, **over: Any) -> Path:
    from fastadapt.checkpoint import save_checkpoint
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset
    from fastadapt.train.run_log import BEST, write_config

    cfg = {**get_preset(preset), "device": "cpu", **over}
    torch.manual_seed(0)
    out.mkdir(parents=True)
    write_config(out, cfg)
    save_checkpoint(out / BEST, build_learner(cfg), {"config": cfg, "step": 0, "val_score": None})
    return out


def train_args(out: Path, data_root: Path | None, *sets: str, preset: str = PRESET) -> list[str]:
    args = ["train", "--preset", preset, "--out", str(out)] + (["--data-root", str(data_root)] if data_root else [])
    return args + [a for s in (*TINY, *sets) for a in ("--set", s)]


def config_args(out: Path, *sets: str) -> list[str]:
    """``fastadapt train`` with a configuration that check_config refuses before any data is read."""
    return ["train", "--preset", PRESET, "--out", str(out), "--data-root", str(out.parent / "no-data")] + [
        a for s in ("device=cpu", *sets) for a in ("--set", s)
    ]


# ----------------------------------------------------------------------------------------------- hostile files


def image_bytes(mode: str = "RGB", size: tuple[int, int] = (16, 16), fmt: str = "PNG", colour: Any = None) -> bytes:
    buf = io.BytesIO()
    if colour is None:
        colour = {
            "RGB": (200, 40, 40),
            "RGBA": (200, 40, 40, 128),
            "L": 90,
            "CMYK": (0, 200, 200, 0),
            "P": 3,
            "I;16": 30000,
        }.get(mode, 0)
    if mode == "I;16":
        img = Image.fromarray(np.full(size[::-1], colour, dtype=np.uint16))
    else:
        img = Image.new(mode, size, colour)
    if mode == "P":
        img.putpalette([v for i in range(256) for v in (i, 255 - i, 128)])
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A syntactically valid PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = image_bytes("RGB", (64, 64), "JPEG", colour=(10, 200, 30))
    return data[: len(data) // 2]


class PickleBomb:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def photo_tree(root: Path, photos: dict[str, list[bytes]] | None = None, classes: int = 2) -> Path:
    """``root/<class>/<n>.png``: two classes of one 16x16 photo each unless ``photos`` says otherwise (a file name
    with an extension, or the bytes alone)."""
    photos = photos or {f"class{c}": [image_bytes(colour=(60 * c, 90, 200))] for c in range(classes)}
    for cls, files in photos.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            name, data = f if isinstance(f, tuple) else (f"{i}.png", f)
            (root / cls / name).write_bytes(data)
    return root


def query_tree(root: Path, n: int = 2) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"q{i}.png").write_bytes(image_bytes(colour=(30 * i, 120, 60)))
    return root


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:  # stored (no compression): member bytes can be flipped
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@contextlib.contextmanager
def image_set(root: Path, members: dict[str, bytes], classes: int, images: int) -> Iterator[str]:
    """A small natural-image data set registered like mini-ImageNet (``root/hostile-set/hostile-set.zip``)."""
    from fastadapt.tasks import image_sets as ims

    name = "hostile-set"
    spec = ims.ImageSetSpec(
        name, f"{name}.zip", "0" * 64, {"test": (classes, images)}, False, "Put hostile-set.zip at {where}."
    )
    write_zip(root / name / f"{name}.zip", members)
    ims.SPECS[name] = spec
    try:
        yield name
    finally:
        ims.SPECS.pop(name, None)


def load_set(ctx: Ctx, case: str, members: dict[str, bytes], classes: int, images: int) -> Any:
    from fastadapt.tasks.image_sets import load_image_set

    root = ctx.folder(case)
    with image_set(root, members, classes, images) as name:
        return load_image_set(name, "test", root=root, workers=1, progress=False)


def flowers_zip(root: Path, members: dict[str, bytes]) -> Path:
    return write_zip(root / "flowers102-partial" / "flowers102-partial.zip", members)


def omniglot_zips(root: Path, background: dict[str, bytes]) -> Path:
    png = image_bytes("L", (105, 105), colour=255)
    write_zip(root / "omniglot" / "images_background.zip", background)
    write_zip(root / "omniglot" / "images_evaluation.zip", {"images_evaluation/Angelic/character01/0965_01.png": png})
    return root


def adapt(
    ctx: Ctx,
    case: str,
    support: dict[str, list[Any]] | None = None,
    kind: str = "colour",
    query: Path | None = None,
    classes: int = 2,
    check: bool = True,
) -> Outcome:
    """``fastadapt adapt`` of a run (``kind``) on a support tree made of ``support`` and two plain query photos; a
    success is correct when every query gets a class of the support set with a finite probability."""
    base = ctx.folder(case)
    sup = photo_tree(base / "support", support, classes)
    qry = query if query is not None else query_tree(base / "query")
    preds = base / "preds.json"

    def verify() -> str:
        rows = json.loads(preds.read_text())
        names = {p.name for p in sup.iterdir() if p.is_dir()}
        assert rows and all(r["class"] in names for r in rows), f"predictions {rows}"
        assert all(0 < r["probability"] <= 1 for r in rows), f"probabilities {rows}"
        return f"{len(rows)} queries classified, finite probabilities"

    return cli(["adapt", ctx.run(kind), "--support", sup, "--query", qry, "--json", preds], verify if check else None)


def decoded_pixels(ctx: Ctx, case: str, data: bytes, channels: int = 3, size: int = 8) -> Any:
    """``fastadapt adapt``'s image loader on one file: ``[channels, size, size]`` floats in [0, 1]."""
    from fastadapt.tasks.folders import load_image

    path = ctx.folder(case) / "photo.img"
    path.write_bytes(data)
    return load_image(path, size, channels=channels)


# ----------------------------------------------------------------------------------------------- data cases


def _tiny_set_members() -> dict[str, bytes]:
    return {f"c{c}/{i}.png": image_bytes(colour=(40 * c, 10 * i, 200)) for c in range(2) for i in range(2)}


def data_crc(ctx: Ctx) -> Outcome:
    from fastadapt.tasks.image_sets import load_image_set

    root = ctx.folder("data-crc-error")
    with image_set(root, _tiny_set_members(), 2, 4) as name:
        z = root / name / f"{name}.zip"
        raw = bytearray(z.read_bytes())
        with zipfile.ZipFile(z) as zf:
            info = zf.getinfo("c0/1.png")
        raw[info.header_offset + 30 + len(info.filename) + len(info.extra) + 40] ^= 0xFF
        z.write_bytes(bytes(raw))
        return api(lambda: load_image_set(name, "test", root=root, workers=1, progress=False))


def data_modes(ctx: Ctx) -> Outcome:
    members = {
        "c0/gray.png": image_bytes("L", colour=90),
        "c0/cmyk.jpg": image_bytes("CMYK", fmt="JPEG"),
        "c1/palette.png": image_bytes("P", colour=3),
        "c1/alpha.png": image_bytes("RGBA"),
        "c1/tiny.png": image_bytes("RGB", (1, 1), colour=(0, 0, 255)),
        "c1/wide.jpg": image_bytes("RGB", (300, 40), "JPEG", colour=(0, 255, 0)),
    }

    def check(d: Any) -> str:
        assert tuple(d.x.shape) == (6, 3, 84, 84) and d.x.dtype == torch.uint8, f"cache shape {tuple(d.x.shape)}"
        px = {n: d.x[i, :, 40, 40].tolist() for i, n in enumerate(sorted(members))}
        assert px["c0/gray.png"] == [90, 90, 90], px
        assert px["c1/palette.png"] == [3, 252, 128], px
        assert px["c1/tiny.png"] == [0, 0, 255], px
        assert abs(px["c1/wide.jpg"][1] - 255) <= 3, px
        assert px["c0/cmyk.jpg"][0] > 220 and px["c0/cmyk.jpg"][1] < 90, px
        return "6 images of 5 modes and 3 sizes decoded to 84x84 RGB with their colours"

    return api(lambda: load_set(ctx, "data-modes-in-archive", members, 2, 6), check)


def data_bad_member(case: str, bad: bytes) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        return api(lambda: load_set(ctx, case, {**_tiny_set_members(), "c1/bad.jpg": bad}, 2, 5))

    return run


def flowers_cli(case: str, members: dict[str, bytes] | None, raw: bytes | None = None) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        root = ctx.folder(case)
        if members is not None:
            flowers_zip(root, members)
        if raw is not None:
            (root / "flowers102-partial").mkdir()
            (root / "flowers102-partial" / "flowers102-partial.zip").write_bytes(raw)
        return cli(["data", "flowers", "--data-root", root])

    return run


def data_truncated_zip(ctx: Ctx) -> Outcome:
    root = ctx.folder("data-truncated-zip")
    z = flowers_zip(root, {f"001/{i}.jpg": image_bytes(fmt="JPEG") for i in range(4)})
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    return cli(["data", "flowers", "--data-root", root])


def data_escape(ctx: Ctx) -> Outcome:
    root = ctx.folder("data-zip-path-escape")
    flowers_zip(root, {"001/a.jpg": image_bytes(fmt="JPEG"), "../../escaped.jpg": image_bytes(fmt="JPEG")})

    def nothing_written() -> str:
        assert not list(ctx.root.rglob("escaped.jpg")), "the escaping entry was written"
        return "nothing extracted"

    return cli(["data", "flowers", "--data-root", root], after=nothing_written)


def omniglot_cli(case: str, background: dict[str, bytes]) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        root = omniglot_zips(ctx.folder(case), background)
        return cli(["data", "omniglot", "--data-root", root])

    return run


def omniglot_offline(ctx: Ctx) -> Outcome:
    import urllib.request

    def offline(*a: Any, **k: Any) -> Any:
        raise OSError("network is unreachable")

    root = ctx.folder("omniglot-missing-offline")
    with patched(urllib.request, "urlopen", offline):
        return cli(["data", "omniglot", "--data-root", root])


def adapt_decoded(case: str, data: bytes, channels: int, expect: list[float], what: str) -> Callable[[Ctx], Outcome]:
    """The photo goes through `fastadapt adapt` (a success with sane predictions) and its decoded pixel is checked."""

    def run(ctx: Ctx) -> Outcome:
        kind = "colour" if channels == 3 else "gray"
        ext = ".jpg" if data[:2] == b"\xff\xd8" else ".png"
        out = adapt(
            ctx,
            case,
            {"a": [(f"x{ext}", data)], "b": [image_bytes("L" if kind == "gray" else "RGB")]},
            kind=kind,
            query=None,
        )
        if out.kind != "ok":
            return out
        px = decoded_pixels(ctx, case + "-pixel", data, channels)[:, 4, 4].tolist()
        if any(abs(a - b) > 0.02 for a, b in zip(px, expect)):
            return Outcome(
                "wrong", f"succeeded, but the photo decoded to {[round(v, 3) for v in px]}, expected {expect}", code=0
            )
        return Outcome("ok", f"{out.message}; {what}", code=0)

    return run


def adapt_gray_query_tree(ctx: Ctx) -> Path:
    q = ctx.folder("gray-query")
    (q / "q.png").write_bytes(image_bytes("L", (28, 28)))
    return q


def adapt_huge(ctx: Ctx) -> Outcome:
    big = image_bytes("RGB", (4000, 3000), "JPEG", colour=(250, 30, 30))
    return adapt(ctx, "adapt-huge-photo", {"a": [("big.jpg", big)], "b": [image_bytes()]})


def train_folder_too_few(ctx: Ctx) -> Outcome:
    base = ctx.folder("train-folder-3-classes")
    tree = photo_tree(base / "birds", {f"c{c}": [image_bytes(colour=(40 * c, 0, 0))] * 3 for c in range(3)})
    return cli(
        [
            "train",
            "--preset",
            PRESET,
            "--dataset",
            f"folder:{tree}",
            "--out",
            base / "run",
            "--set",
            "image_size=16",
            "--set",
            "channels=3",
            "--set",
            "device=cpu",
        ]
    )


# ----------------------------------------------------------------------------------------------- checkpoint cases


def eval_run(run: Path, *extra: str) -> list[Any]:
    return ["eval", run, "--latency-tasks", "0", *extra]


def ckpt_case(case: str, damage: Callable[[Path, Ctx], None]) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        r = ctx.copy_run("gray", ctx.folder(case) / "run")
        damage(r / "best.safetensors", ctx)
        return cli(eval_run(r))

    return run


def ckpt_pickle(ctx: Ctx) -> Outcome:
    r = ctx.copy_run("gray", ctx.folder("ckpt-pickle-payload") / "run")
    marker = r / "PWNED"
    (r / "best.safetensors").write_bytes(pickle.dumps({"model": PickleBomb(marker)}))

    def not_run() -> str:
        assert not marker.exists(), "the pickle payload ran"
        return "payload never executed"

    return cli(eval_run(r), after=not_run)


def _torch_save(path: Path, ctx: Ctx) -> None:
    torch.save({"model": PickleBomb(path.parent / "PWNED")}, path)


def _truncate(path: Path, ctx: Ctx) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path, ctx: Ctx) -> None:
    path.write_bytes(b"")


def _other_model(path: Path, ctx: Ctx) -> None:
    shutil.copy(ctx.run("maml") / "best.safetensors", path)


def _other_width(path: Path, ctx: Ctx) -> None:
    from fastadapt.checkpoint import save_checkpoint
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset

    cfg = {**get_preset(PRESET), "hidden": 16}
    save_checkpoint(path, build_learner(cfg), {"config": cfg})


def _non_finite(value: float) -> Callable[[Path, Ctx], None]:
    def damage(path: Path, ctx: Ctx) -> None:
        from safetensors.torch import save

        from fastadapt.checkpoint import read_checkpoint

        tensors, header = read_checkpoint(path)
        key = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
        tensors[key] = tensors[key].clone()
        tensors[key].view(-1)[3] = value
        path.write_bytes(save(tensors, metadata={"fastadapt": json.dumps(header)}))

    return damage


def _missing(path: Path, ctx: Ctx) -> None:
    path.unlink()


def _metadata(meta: dict[str, str] | None) -> Callable[[Path, Ctx], None]:
    def damage(path: Path, ctx: Ctx) -> None:
        from safetensors.torch import save

        from fastadapt.checkpoint import read_checkpoint

        tensors, _ = read_checkpoint(path)
        path.write_bytes(save(tensors, metadata=meta))

    return damage


def _format(fmt: str) -> Callable[[Path, Ctx], None]:
    def damage(path: Path, ctx: Ctx) -> None:
        from safetensors.torch import save

        from fastadapt.checkpoint import read_checkpoint

        tensors, header = read_checkpoint(path)
        path.write_bytes(save(tensors, metadata={"fastadapt": json.dumps({**header, "format": fmt})}))

    return damage


# ----------------------------------------------------------------------------------------------- config cases


def saved_config(
    case: str, edit: Callable[[dict[str, Any]], Any], raw: bytes | None = None
) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        r = ctx.copy_run("gray", ctx.folder(case) / "run")
        if raw is not None:
            (r / "config.json").write_bytes(raw)
        else:
            cfg = json.loads((r / "config.json").read_text())
            (r / "config.json").write_text(json.dumps(edit(cfg)))
        return cli(eval_run(r, "--episodes", "1", "--data-root", r.parent / "no-data"))

    return run


def set_case(case: str, *sets: str, untouched: bool = True) -> Callable[[Ctx], Outcome]:
    """``fastadapt train --set ...`` refused; with ``untouched`` the --out folder must not have been created."""

    def run(ctx: Ctx) -> Outcome:
        out = ctx.folder(case) / "run"

        def not_created() -> str:
            assert not out.exists(), f"--out {out.name} was created although the configuration was refused"
            return "--out not created"

        return cli(config_args(out, *sets), after=not_created if untouched else None)

    return run


def set_cuda(ctx: Ctx) -> Outcome:
    with patched(torch.cuda, "is_available", lambda: False):
        return set_case("set-device-cuda-cpu-only", "device=cuda")(ctx)


def overwrite_refused(case: str, *sets: str) -> Callable[[Ctx], Outcome]:
    """``train --overwrite`` of a finished run with a configuration that cannot start: the old run stays as it was."""

    def run(ctx: Ctx) -> Outcome:
        r = ctx.copy_run("gray", ctx.folder(case) / "run")
        (r / "results.json").write_text('{"accuracy": 0.99}')
        before = {p.name: p.read_bytes() for p in r.iterdir()}

        def intact() -> str:
            assert {p.name: p.read_bytes() for p in r.iterdir()} == before, "the old run's files changed"
            return "old run untouched"

        return cli(config_args(r, *sets) + ["--overwrite"], after=intact)

    return run


def nan_predictions(ctx: Ctx) -> Outcome:
    """A finite but huge inner learning rate: MAML's adapted weights overflow, every prediction is NaN."""
    out = ctx.folder("set-inner-lr-huge") / "run"
    return cli(train_args(out, ctx.data_root, "steps=0", "inner_lr=1e30", preset="omniglot-maml-5w1s"))


# ----------------------------------------------------------------------------------------------- folder cases


def out_non_run(ctx: Ctx) -> Outcome:
    out, _ = ctx.trained()
    ok = (out / "notes.md").read_text() == "my notes" and (out / "results.json").exists()
    files = sorted(p.name for p in out.iterdir())
    if not ok:
        return Outcome("wrong", f"trained, but the folder holds {files}", code=0)
    return Outcome("ok", f"trained into it; notes.md kept beside {len(files) - 1} run files", code=0)


def out_args(out: Path) -> list[Any]:
    """``fastadapt train`` of a preset whose tasks need no data files (sinusoids): the run folder is the only issue."""
    return ["train", "--preset", "sinusoid-maml-5shot", "--out", out, "--set", "device=cpu"]


def out_existing_run(ctx: Ctx) -> Outcome:
    out = ctx.copy_run("gray", ctx.folder("out-existing-run") / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def intact() -> None:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "the run's files changed"

    return cli(out_args(out), after=intact)


def out_file(ctx: Ctx) -> Outcome:
    out = ctx.folder("out-is-a-file") / "run"
    out.write_text("a file, not a folder")
    return cli(out_args(out))


def out_read_only(ctx: Ctx) -> Outcome:
    out = ctx.folder("out-read-only") / "run"
    out.mkdir()
    out.chmod(0o555)
    try:
        return cli(out_args(out))
    finally:
        out.chmod(0o755)


def resume_case(
    case: str, edit: Callable[[Path], None], *sets: str, check: Callable[[Path, str], str] | None = None
) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        out = ctx.copy_trained(ctx.folder(case) / "run")
        edit(out)
        res = cli(train_args(out, ctx.data(), *sets) + ["--resume"])
        if res.kind == "ok" and check is not None:
            try:
                return Outcome("ok", check(out, res.stderr), code=0)
            except AssertionError as e:
                return Outcome("wrong", f"resumed, but {e}", code=0)
        return res

    return run


def _torn(out: Path) -> None:
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"loss": 0.5, "st')


def _torn_ok(out: Path, stderr: str) -> str:
    assert "dropped a half-written last record" in stderr, f"no warning on stderr: {stderr[-300:]!r}"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(ln)["step"] for ln in lines]
    assert steps == [1, 2, 3], f"metrics.jsonl steps {steps}"
    assert (out / "results.json").exists(), "no results.json"
    return "resumed to step 3; torn line dropped with a warning, metrics.jsonl steps [1, 2, 3]"


def _damaged_first(out: Path) -> None:
    log = out / "metrics.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(["{oops"] + lines[1:]) + "\n")


def stale_tmp(ctx: Ctx) -> Outcome:
    from fastadapt.train.run_log import LAST, prepare_out

    out = ctx.folder("stale-tmp-cleaned")
    stale = [out / ".last.safetensors.k3j_x9a2.tmp", out / ".metrics.jsonl.abc.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    (out / "keep.tmp").write_text("a user's file")
    (out / LAST).write_bytes(b"x")

    def check(_: Any) -> str:
        assert not any(p.exists() for p in stale), "stale temporaries left"
        assert (out / "keep.tmp").exists() and (out / LAST).exists(), "a file that is not a temporary was removed"
        return "2 stale .tmp files removed, keep.tmp and last.safetensors kept"

    return api(lambda: prepare_out(out, resume=True), check)


def umask_respected(ctx: Ctx) -> Outcome:
    from fastadapt.checkpoint import save_checkpoint
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset
    from fastadapt.train.run_log import write_config

    out = ctx.folder("umask-respected")
    cfg = {**get_preset(PRESET), "hidden": 8}

    def write() -> None:
        with umask(0o027):
            write_config(out, cfg)
            save_checkpoint(out / "best.safetensors", build_learner(cfg), {"config": cfg})

    def check(_: Any) -> str:
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir()}
        assert modes == {"config.json": "0o640", "best.safetensors": "0o640"}, f"modes {modes}"
        return "files written 0640 under umask 027"

    return api(write, check)


# ----------------------------------------------------------------------------------------------- API cases


def support(preset: str, n: int = 5, c: int | None = None, size: int | None = None) -> tuple[Any, Any]:
    from fastadapt.presets import get_preset

    cfg = get_preset(preset)
    g = torch.Generator().manual_seed(n)
    c = cfg["channels"] if c is None else c
    size = cfg["image_size"] if size is None else size
    return torch.rand(n, c, size, size, generator=g), torch.arange(n) % 5


MAML = "omniglot-maml-5w1s"


def api_adapt(
    preset: str, make: Callable[[], tuple[Any, Any, Any]], query: Callable[[], Any] | None = None
) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        learner = ctx.learner(preset)
        sx, sy, ways = make()
        if query is None:
            return api(lambda: learner.adapt(sx, sy, ways))
        return api(lambda: learner.adapt(sx, sy, ways).predict(query()))

    return run


def _nan(x: Any, value: float = float("nan")) -> Any:
    x = x.clone()
    x.view(-1)[7] = value
    return x


def api_good(ctx: Ctx) -> Outcome:
    learner = ctx.learner(PRESET)
    sx, sy = support(PRESET)

    def check(p: Any) -> str:
        assert p.logits.shape == (3, 5) and torch.isfinite(p.logits).all(), f"logits {p.logits}"
        return "finite [3, 5] logits"

    return api(lambda: learner.adapt(sx, sy, 5).predict(support(PRESET, 3)[0]), check)


def api_regression_nan(ctx: Ctx) -> Outcome:
    learner = ctx.learner("sinusoid-maml-5shot")
    x = torch.linspace(-5, 5, 5)[:, None]
    return api(lambda: learner.adapt(x, torch.sin(x), None).predict(_nan(torch.zeros(10, 1), float("nan"))))


def api_sampler_nan(ctx: Ctx) -> Outcome:
    from fastadapt.tasks import EpisodeSampler

    x = torch.rand(20, 1, 4, 4)
    x[3, 0, 1, 1] = float("nan")
    return api(lambda: EpisodeSampler(x, torch.arange(20) % 5, 5, 1, 1))


def api_sampler_ways(ctx: Ctx) -> Outcome:
    from fastadapt.tasks import EpisodeSampler

    return api(lambda: EpisodeSampler(torch.rand(20, 1, 4, 4), torch.arange(20) % 5, 8, 1, 1))


def api_dataset_normalized(ctx: Ctx) -> Outcome:
    from fastadapt.tasks.own_data import FewShotDataset

    return api(lambda: FewShotDataset([(torch.full((3, 4, 4), -1.8), 0)], size=4))


def api_class_split(ctx: Ctx) -> Outcome:
    from fastadapt.tasks.own_data import class_split

    return api(lambda: class_split(["a", "b", "c", "d", "e"]))


# ----------------------------------------------------------------------------------------------- fault cases


def ckpt_killed_write(ctx: Ctx) -> Outcome:
    """A process killed inside save_checkpoint leaves a half-written temporary beside the intact last checkpoint."""
    from fastadapt.train.run_log import LAST, RunLog, prepare_out

    out = ctx.folder("kill-mid-checkpoint-write")
    cfg = {
        "steps": 10,
        "log_every": 2,
        "ckpt_every": 4,
        "val_every": 5,
        "lr": 1e-2,
        "lr_decay": 0.5,
        "lr_decay_every": 3,
    }
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    RunLog(out, cfg, model, opt, resume=False).checkpoint(4, model, opt)
    good = (out / LAST).read_bytes()
    tmp = out / ".last.safetensors.x81kq2.tmp"
    tmp.write_bytes(good[: len(good) // 3])

    def resume() -> Any:
        prepare_out(out, resume=True)
        fresh = torch.nn.Linear(3, 2)
        return RunLog(out, cfg, fresh, torch.optim.Adam(fresh.parameters()), resume=True), fresh

    def check(res: Any) -> str:
        run, fresh = res
        assert run.start == 4 and torch.equal(fresh.weight, model.weight), f"resumed at step {run.start}"
        assert not tmp.exists(), "the half-written temporary is still there"
        return "resumed from the intact step-4 checkpoint; the torn temporary removed"

    return api(resume, check)


def enospc(*a: Any, **k: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def disk_full_checkpoint(ctx: Ctx) -> Outcome:
    from fastadapt.checkpoint import save_checkpoint
    from fastadapt.nn.conv4 import Conv4

    out = ctx.folder("disk-full-checkpoint")
    path = out / "last.safetensors"
    save_checkpoint(path, Conv4(hidden=4), {"step": 1})
    before = path.read_bytes()

    def write() -> None:
        with patched(os, "fsync", enospc):
            save_checkpoint(path, Conv4(hidden=4), {"step": 2})

    def after() -> None:
        assert path.read_bytes() == before, "the previous checkpoint changed"
        assert [p.name for p in out.iterdir()] == ["last.safetensors"], "a temporary was left behind"

    return api(write, after=after)


def disk_full_train(ctx: Ctx) -> Outcome:
    out = ctx.folder("disk-full-train") / "run"

    def no_tmp() -> str:
        left = [p.name for p in out.iterdir() if p.name.endswith(".tmp")] if out.exists() else []
        assert not left, f"temporaries left: {left}"
        return "no temporary left"

    with patched(os, "fsync", enospc):
        return cli(config_args(out, "steps=0", "hidden=8", "eval_episodes=1"), after=no_tmp)


class _FullDisk:
    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False

    def write(self, data: str) -> int:
        enospc()
        return 0


def disk_full_log(ctx: Ctx) -> Outcome:
    """The disk fills up while a training appends to metrics.jsonl (checkpoints went through)."""
    import builtins

    from fastadapt.train import run_log

    out = ctx.folder("disk-full-metrics-log") / "run"

    def full_open(path: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if str(path).endswith("metrics.jsonl") and "a" in mode:
            return _FullDisk()
        return builtins.open(path, mode, *a, **k)

    run_log.open = full_open  # the module's name `open` shadows the builtin
    try:
        return cli(train_args(out, ctx.data()))
    finally:
        del run_log.open


def interrupted(ctx: Ctx) -> Outcome:
    import fastadapt.train.trainer as trainer

    def ctrl_c(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    with patched(trainer, "train", ctrl_c):
        return cli(config_args(ctx.folder("ctrl-c-during-train") / "run"))


def eval_flag(case: str, *flags: str, kind: str = "gray", data: bool = False) -> Callable[[Ctx], Outcome]:
    def run(ctx: Ctx) -> Outcome:
        root = ctx.data() if data else ctx.folder(case) / "no-data"
        # argparse keeps the last --episodes: a case's own value overrides the 1 here
        return cli(eval_run(ctx.run(kind), "--episodes", "1", "--data-root", root, *flags))

    return run


def eval_cuda(ctx: Ctx) -> Outcome:
    with patched(torch.cuda, "is_available", lambda: False):
        return eval_flag("eval-device-cuda-cpu-only", "--device", "cuda")(ctx)


# ----------------------------------------------------------------------------------------------- the matrix


def _cases() -> list[Case]:
    P, C = PRESET, "colour"
    gray_png, rgb = image_bytes("L", (28, 28)), image_bytes()
    c: list[Case] = []

    def add(*a: Any, **k: Any) -> None:
        c.append(Case(*a, **k))

    # --- archives and data -------------------------------------------------------------------------------------
    add(
        "data-missing-archive",
        "data",
        "`fastadapt data flowers` with no archive under --data-root",
        "error",
        "flowers102-partial.zip",
        flowers_cli("data-missing-archive", None),
    )
    add(
        "data-truncated-zip",
        "data",
        "the flowers archive cut in half (interrupted download)",
        "error",
        "not a readable zip archive",
        data_truncated_zip,
    )
    add(
        "data-garbage-zip",
        "data",
        "a text file saved as flowers102-partial.zip",
        "error",
        "not a readable zip archive",
        flowers_cli("data-garbage-zip", None, raw=b"<html>404 Not Found</html>"),
    )
    add(
        "data-zip-path-escape",
        "data",
        "an archive entry `../../escaped.jpg` (zip slip)",
        "error",
        "would escape the target folder",
        data_escape,
    )
    add(
        "data-zip-absolute-path",
        "data",
        "an archive entry with an absolute path `/tmp/abs.jpg`",
        "error",
        "would escape the target folder",
        flowers_cli("data-zip-absolute-path", {"001/a.jpg": rgb, "/tmp/abs.jpg": rgb}),
    )
    add(
        "data-wrong-counts",
        "data",
        "a flowers archive with 3 classes of 2 photos (89 / 5,543 expected)",
        "error",
        "expected 89 classes and 5543 images",
        flowers_cli("data-wrong-counts", {f"00{k}/{i}.jpg": rgb for k in range(3) for i in range(2)}),
    )
    add("data-crc-error", "data", "one archive member's bytes flipped (CRC mismatch)", "error", "c0/1.png", data_crc)
    add(
        "data-bomb-in-archive",
        "data",
        "an archive photo whose header claims 20000x20000 pixels",
        "error",
        "DecompressionBombError",
        data_bad_member("data-bomb-in-archive", png_header(20000, 20000)),
    )
    add(
        "data-truncated-jpeg-in-archive",
        "data",
        "an archive photo cut in half",
        "error",
        "bad.jpg is not a readable image",
        data_bad_member("data-truncated-jpeg-in-archive", truncated_jpeg()),
    )
    add(
        "data-text-in-archive",
        "data",
        "a text file named .jpg inside the archive",
        "error",
        "bad.jpg is not a readable image",
        data_bad_member("data-text-in-archive", b"just some text"),
    )
    add(
        "data-modes-in-archive",
        "data",
        "archive photos in grayscale, CMYK, palette, RGBA, 1x1 and 300x40",
        "ok",
        "all decoded to 84x84 RGB with the right colours",
        data_modes,
    )
    add(
        "omniglot-missing-offline",
        "data",
        "`fastadapt data omniglot` without the archives and without network",
        "error",
        "could not be downloaded",
        omniglot_offline,
    )
    add(
        "omniglot-wrong-counts",
        "data",
        "Omniglot archives holding one character each",
        "error",
        "found 1 alphabets and 1 characters",
        omniglot_cli("omniglot-wrong-counts", {"images_background/Latin/character01/0001_01.png": gray_png}),
    )
    add(
        "omniglot-path-escape",
        "data",
        "an Omniglot archive entry `../../evil.png`",
        "error",
        "would escape the target folder",
        omniglot_cli("omniglot-path-escape", {"../../evil.png": gray_png}),
    )
    add(
        "adapt-empty-class-folder",
        "data",
        "`fastadapt adapt` with an empty class folder in --support",
        "error",
        "is empty",
        lambda x: adapt(x, "adapt-empty-class-folder", {"a": [rgb], "b": []}),
    )
    add(
        "adapt-non-image-file",
        "data",
        "a notes.txt among the support photos",
        "error",
        "not a readable image",
        lambda x: adapt(x, "adapt-non-image-file", {"a": [rgb], "b": [rgb, ("notes.txt", b"my notes")]}),
    )
    add(
        "adapt-grayscale-photo",
        "data",
        "a grayscale photo given to a colour model",
        "ok",
        "converted to RGB, gray 90 in every channel",
        adapt_decoded(
            "adapt-grayscale-photo", image_bytes("L", colour=90), 3, [90 / 255] * 3, "decoded as RGB (90, 90, 90)"
        ),
    )
    add(
        "adapt-cmyk-jpeg",
        "data",
        "a CMYK JPEG given to a colour model",
        "ok",
        "converted to RGB",
        adapt_decoded(
            "adapt-cmyk-jpeg",
            image_bytes("CMYK", fmt="JPEG", colour=(0, 255, 255, 0)),
            3,
            [1.0, 0.0, 0.0],
            "decoded as red",
        ),
    )
    add(
        "adapt-palette-png",
        "data",
        "a palette (P mode) PNG",
        "ok",
        "palette colours looked up",
        adapt_decoded(
            "adapt-palette-png",
            image_bytes("P", colour=3),
            3,
            [3 / 255, 252 / 255, 128 / 255],
            "decoded with its palette colour",
        ),
    )
    add(
        "adapt-rgba-png",
        "data",
        "a PNG with an alpha channel",
        "ok",
        "alpha dropped, colour kept",
        adapt_decoded(
            "adapt-rgba-png",
            image_bytes("RGBA", colour=(200, 40, 40, 128)),
            3,
            [200 / 255, 40 / 255, 40 / 255],
            "decoded as its RGB colour",
        ),
    )
    add(
        "adapt-16bit-grayscale",
        "data",
        "a 16-bit grayscale PNG (mid gray, 30000 of 65535)",
        "ok",
        "scaled to 8 bits, not clipped to white",
        adapt_decoded(
            "adapt-16bit-grayscale", image_bytes("I;16", colour=30000), 3, [30000 / 65535] * 3, "decoded as mid gray"
        ),
        found="exit 0, but the photo decoded as pure white (PIL's `convert` clips 16-bit values at 255): a silent "
        "wrong result",
    )
    add(
        "adapt-tiny-photo",
        "data",
        "a 1x1-pixel photo",
        "ok",
        "upscaled to the model's size",
        adapt_decoded(
            "adapt-tiny-photo", image_bytes("RGB", (1, 1), colour=(0, 0, 255)), 3, [0.0, 0.0, 1.0], "decoded as blue"
        ),
    )
    add("adapt-huge-photo", "data", "a 4000x3000 JPEG", "ok", "decoded at reduced scale and classified", adapt_huge)
    add(
        "adapt-decompression-bomb",
        "data",
        "a PNG whose header claims 20000x20000 pixels",
        "error",
        "decompression bomb",
        lambda x: adapt(x, "adapt-decompression-bomb", {"a": [rgb], "b": [("bomb.png", png_header(20000, 20000))]}),
    )
    add(
        "adapt-truncated-jpeg",
        "data",
        "a JPEG cut in half",
        "error",
        "not a readable image",
        lambda x: adapt(x, "adapt-truncated-jpeg", {"a": [rgb], "b": [("cut.jpg", truncated_jpeg())]}),
    )
    add(
        "adapt-colour-into-grayscale-model",
        "data",
        "colour photos given to a grayscale (Omniglot) model",
        "error",
        "mode 'RGB'",
        lambda x: adapt(x, "adapt-colour-into-grayscale-model", kind="gray", query=adapt_gray_query_tree(x)),
    )
    add(
        "adapt-one-class",
        "data",
        "a support folder with a single class",
        "error",
        "holds 1 class folder",
        lambda x: adapt(x, "adapt-one-class", {"a": [rgb]}),
    )
    add(
        "adapt-missing-support",
        "data",
        "--support naming a folder that does not exist",
        "error",
        "does not exist",
        lambda x: cli(["adapt", x.run(C), "--support", x.root / "nowhere", "--query", x.root]),
    )
    add(
        "adapt-empty-query",
        "data",
        "an empty --query folder",
        "error",
        "holds no images",
        lambda x: adapt(x, "adapt-empty-query", query=x.folder("adapt-empty-query-q")),
    )
    add(
        "train-folder-3-classes",
        "data",
        "`train --dataset folder:DIR` on a folder of 3 classes",
        "error",
        "3 classes cannot be split",
        train_folder_too_few,
    )

    # --- checkpoints (`fastadapt eval` of a run folder whose best.safetensors was replaced) ------------------------
    add(
        "ckpt-pickle-payload",
        "checkpoints",
        "best.safetensors replaced by a pickle that runs a shell command",
        "error",
        "not a safetensors checkpoint",
        ckpt_pickle,
    )
    add(
        "ckpt-torch-save",
        "checkpoints",
        "best.safetensors replaced by a torch.save file (zip + pickle)",
        "error",
        "not a safetensors checkpoint",
        ckpt_case("ckpt-torch-save", _torch_save),
    )
    add(
        "ckpt-truncated",
        "checkpoints",
        "best.safetensors cut in half",
        "error",
        "not a safetensors checkpoint",
        ckpt_case("ckpt-truncated", _truncate),
    )
    add(
        "ckpt-empty",
        "checkpoints",
        "best.safetensors of 0 bytes",
        "error",
        "not a safetensors checkpoint",
        ckpt_case("ckpt-empty", _empty),
    )
    add(
        "ckpt-other-method",
        "checkpoints",
        "a MAML checkpoint in a ProtoNet run folder",
        "error",
        "belongs to another model",
        ckpt_case("ckpt-other-method", _other_model),
    )
    add(
        "ckpt-other-width",
        "checkpoints",
        "a checkpoint of a wider encoder (hidden 16, config 8)",
        "error",
        "shape mismatch",
        ckpt_case("ckpt-other-width", _other_width),
    )
    add(
        "ckpt-nan-weights",
        "checkpoints",
        "a checkpoint holding a NaN weight",
        "error",
        "non-finite weights",
        ckpt_case("ckpt-nan-weights", _non_finite(float("nan"))),
    )
    add(
        "ckpt-inf-weights",
        "checkpoints",
        "a checkpoint holding an infinite weight",
        "error",
        "non-finite weights",
        ckpt_case("ckpt-inf-weights", _non_finite(float("inf"))),
    )
    add(
        "ckpt-missing",
        "checkpoints",
        "a run folder without best.safetensors",
        "error",
        "No checkpoint at",
        ckpt_case("ckpt-missing", _missing),
    )
    add(
        "ckpt-wrong-format",
        "checkpoints",
        "a checkpoint whose metadata says format fastadapt-checkpoint-99",
        "error",
        "expected 'fastadapt-checkpoint-1'",
        ckpt_case("ckpt-wrong-format", _format("fastadapt-checkpoint-99")),
    )
    add(
        "ckpt-no-metadata",
        "checkpoints",
        "a plain safetensors file (no fastadapt metadata)",
        "error",
        "not a fastadapt checkpoint",
        ckpt_case("ckpt-no-metadata", _metadata(None)),
    )
    add(
        "ckpt-metadata-not-json",
        "checkpoints",
        "fastadapt metadata that is not JSON",
        "error",
        "metadata is damaged",
        ckpt_case("ckpt-metadata-not-json", _metadata({"fastadapt": "{oops"})),
        found="exit 2 with only the JSON parser's message (`Expecting property name ...`), no file named",
    )
    add(
        "ckpt-metadata-wrong-type",
        "checkpoints",
        "fastadapt metadata that is a JSON list",
        "error",
        "metadata is damaged",
        ckpt_case("ckpt-metadata-wrong-type", _metadata({"fastadapt": "[1, 2]"})),
        found="exit 1: internal error with a traceback (AttributeError)",
    )

    # --- configurations ------------------------------------------------------------------------------------------
    add(
        "config-json-list",
        "configs",
        "a run's config.json holding a JSON list",
        "error",
        "holds a JSON list",
        saved_config("config-json-list", lambda cfg: [1, 2]),
    )
    add(
        "config-json-invalid",
        "configs",
        "a run's config.json cut mid-object",
        "error",
        "not valid JSON",
        saved_config("config-json-invalid", None, raw=b'{"method": "protonet",'),
    )
    add(
        "config-json-wrong-type",
        "configs",
        'config.json with "hidden": "8" (a string)',
        "error",
        "'hidden' is '8' (str), expected an int",
        saved_config("config-json-wrong-type", lambda cfg: {**cfg, "hidden": "8"}),
        found="exit 1: internal error with a traceback from inside torch (TypeError)",
    )
    add(
        "config-json-bool-for-int",
        "configs",
        'config.json with "ways": true',
        "error",
        "'ways' is True (bool), expected an int",
        saved_config("config-json-bool-for-int", lambda cfg: {**cfg, "ways": True}),
        found="accepted in silence (`true` taken as 1-way episodes)",
    )
    add(
        "config-json-no-method",
        "configs",
        "config.json without a method",
        "error",
        "names no 'method'",
        saved_config("config-json-no-method", lambda cfg: {k: v for k, v in cfg.items() if k != "method"}),
        found="exit 2 with the message `method` and nothing else",
    )
    for case_id, what, message, setting in (  # one `--set KEY=VALUE` refused before any work
        ("set-unknown-key", "`--set stpes=3` (a typo)", "Did you mean 'steps'", "stpes=3"),
        ("set-no-equals", "`--set steps` without a value", "--set takes key=value", "steps"),
        ("set-string-for-int", "`--set steps=many`", "--set steps=many: expected an integer", "steps=many"),
        ("set-float-for-int", "`--set eval_episodes=2.5`", "--set eval_episodes=2.5: expected", "eval_episodes=2.5"),
        ("set-bad-bool", "`--set freeze_encoder=maybe`", "expected a boolean", "freeze_encoder=maybe"),
        ("set-bad-list", "`--set input_mean=abc`", "expected a JSON list of", "input_mean=abc"),
        (
            "set-lr-decay-every-0",
            "`--set lr_decay_every=0`",
            "lr_decay_every must be a positive integer",
            "lr_decay_every=0",
        ),
        (
            "set-eval-episodes-0",
            "`--set eval_episodes=0`",
            "eval_episodes must be a positive integer",
            "eval_episodes=0",
        ),
        ("set-train-ways-1", "`--set train_ways=1`", "train_ways must be an integer >= 2", "train_ways=1"),
        ("set-steps-negative", "`--set steps=-5`", "steps must be a non-negative integer", "steps=-5"),
        ("set-log-every-0", "`--set log_every=0`", "log_every must be a positive integer", "log_every=0"),
        ("set-meta-batch-0", "`--set meta_batch=0`", "meta_batch must be a positive integer", "meta_batch=0"),
        (
            "set-val-episodes-negative",
            "`--set val_episodes=-1`",
            "val_episodes must be a positive integer",
            "val_episodes=-1",
        ),
        ("set-ways-0", "`--set ways=0`", "ways must be a positive integer", "ways=0"),
        ("set-train-shots-0", "`--set train_shots=0`", "train_shots must be a positive integer", "train_shots=0"),
        ("set-queries-negative", "`--set queries=-2`", "queries must be a positive integer", "queries=-2"),
        ("set-hidden-0", "`--set hidden=0`", "hidden must be a positive integer", "hidden=0"),
        (
            "set-ckpt-not-multiple",
            "`--set ckpt_every=7` with log_every 50",
            "must be a multiple of log_every",
            "ckpt_every=7",
        ),
        ("set-lr-nan", "`--set lr=nan`", "lr=nan: expected a number, not NaN", "lr=nan"),
        ("set-lr-zero", "`--set lr=0`", "lr must be a positive number", "lr=0"),
    ):
        add(case_id, "configs", what, "error", message, set_case(case_id, setting))
    add(
        "set-device-cuda-cpu-only",
        "configs",
        "`--set device=cuda` on a CPU-only machine",
        "error",
        "asks for a GPU",
        set_cuda,
    )
    add(
        "set-device-unknown",
        "configs",
        "`--set device=gpu0`",
        "error",
        "device='gpu0' is not a device",
        set_case("set-device-unknown", "device=gpu0"),
    )
    add(
        "set-precision-unknown",
        "configs",
        "`--set precision=fp8`",
        "error",
        "precision must be one of",
        set_case("set-precision-unknown", "precision=fp8"),
    )
    add(
        "set-method-typo",
        "configs",
        "`--set method=protonett`",
        "error",
        "Did you mean 'protonet'",
        set_case("set-method-typo", "method=protonett", untouched=False),
    )
    add(
        "set-dataset-typo",
        "configs",
        "`--set dataset=omnigot`",
        "error",
        "Did you mean 'omniglot'",
        set_case("set-dataset-typo", "dataset=omnigot", untouched=False),
    )
    add(
        "unknown-preset",
        "configs",
        "`--preset omniglot-protonet-5w1` (a typo)",
        "error",
        "Did you mean 'omniglot-protonet-5w1s'",
        lambda x: cli(["train", "--preset", "omniglot-protonet-5w1", "--out", x.folder("unknown-preset") / "r"]),
    )
    add(
        "dataset-folder-empty",
        "configs",
        "`--dataset folder:` naming no folder",
        "error",
        "names no folder",
        lambda x: cli(config_args(x.folder("dataset-folder-empty") / "r") + ["--dataset", "folder:"]),
    )
    add(
        "overwrite-bad-config",
        "configs",
        "`--overwrite` of a finished run with lr_decay_every=0",
        "error",
        "lr_decay_every must be a positive integer",
        overwrite_refused("overwrite-bad-config", "lr_decay_every=0"),
    )
    add(
        "overwrite-init-from-missing",
        "configs",
        "`--overwrite` of a finished run with init_from naming no checkpoint",
        "error",
        "init_from='no-such-run': no checkpoint",
        overwrite_refused("overwrite-init-from-missing", "steps=0", "init_from=no-such-run"),
        found="the old run was deleted, then the missing checkpoint was reported",
    )
    add(
        "set-steps-per-task-huge",
        "configs",
        "`--set transductive_steps=1000000000000`",
        "error",
        "transductive_steps must be an integer from 0 to 100,000",
        set_case("set-steps-per-task-huge", "transductive_steps=1000000000000"),
        found="accepted: ran on for days",
    )
    add(
        "set-width-0",
        "configs",
        "`--set relation_hidden=0` (a model with no units)",
        "error",
        "relation_hidden must be an integer from 1 to 65,536",
        lambda x: cli(
            ["train", "--preset", "omniglot-relation-5w1s"]
            + config_args(x.folder("set-width-0") / "r", "relation_hidden=0")[3:]
        ),
        found="accepted: trained a model with no units",
    )
    add(
        "set-inner-lr-huge",
        "configs",
        "`--set inner_lr=1e30` (finite, but the adapted weights overflow)",
        "error",
        "NaN or infinite",
        nan_predictions,
        needs=("omniglot",),
        found="exit 0 with accuracy 20.00% and NLL nan in the summary",
    )

    # --- run folders ---------------------------------------------------------------------------------------------
    add(
        "out-non-run-folder",
        "folders",
        "`train --out` into an existing folder of the user's own files",
        "ok",
        "trains there and keeps the user's files",
        out_non_run,
        needs=("omniglot",),
    )
    add(
        "out-existing-run",
        "folders",
        "`train --out` into a finished run without --resume / --overwrite",
        "error",
        "already holds a run",
        out_existing_run,
    )
    add(
        "out-is-a-file",
        "folders",
        "`train --out` naming an existing file",
        "error",
        "Cannot create run folder",
        out_file,
    )
    add("out-read-only", "folders", "`train --out` into a read-only folder", "error", "is read-only", out_read_only)
    add(
        "resume-and-overwrite",
        "folders",
        "`train --resume --overwrite`",
        "error",
        "not allowed with argument",
        lambda x: cli(config_args(x.folder("resume-and-overwrite") / "r") + ["--resume", "--overwrite"]),
    )
    add(
        "resume-torn-metrics-line",
        "folders",
        "`--resume` after a kill that tore metrics.jsonl's last line",
        "ok",
        "resumes; the torn line is dropped with a warning",
        resume_case("resume-torn-metrics-line", _torn, "steps=3", check=_torn_ok),
        needs=("omniglot",),
    )
    add(
        "resume-damaged-metrics-line",
        "folders",
        "`--resume` with metrics.jsonl's first line damaged",
        "error",
        "line 1: not a JSON object",
        resume_case("resume-damaged-metrics-line", _damaged_first, "steps=3"),
        needs=("omniglot",),
    )
    add(
        "resume-other-config",
        "folders",
        "`--resume` with another learning rate",
        "error",
        "different configuration (keys ['lr'])",
        resume_case("resume-other-config", lambda o: None, "lr=0.5"),
        needs=("omniglot",),
    )
    add(
        "resume-fewer-steps",
        "folders",
        "`--resume` with fewer steps than done",
        "error",
        "already done 2 steps",
        resume_case("resume-fewer-steps", lambda o: None, "steps=1"),
        needs=("omniglot",),
    )
    add(
        "stale-tmp-cleaned",
        "folders",
        "a run folder with the .tmp files of killed writes",
        "ok",
        "stale temporaries removed, other files kept",
        stale_tmp,
    )
    add("umask-respected", "folders", "writing a run under umask 027", "ok", "files get mode 0640", umask_respected)
    add(
        "eval-not-a-run",
        "folders",
        "`fastadapt eval` of a folder that is no run",
        "error",
        "not a fastadapt run folder",
        lambda x: cli(eval_run(x.folder("eval-not-a-run"))),
    )

    # --- the API of the learners ------------------------------------------------------------------------------------
    sx, sy = support(P)
    add(
        "api-good-input",
        "api",
        "ProtoNet.adapt / predict on a clean 5-way task (control)",
        "ok",
        "finite logits",
        api_good,
    )
    add(
        "api-empty-support",
        "api",
        "adapt on an empty support set",
        "error",
        "support set is empty",
        api_adapt(P, lambda: (sx[:0], sy[:0], 5)),
    )
    add(
        "api-nan-support",
        "api",
        "a NaN pixel in the support set",
        "error",
        "support_x contains 1 NaN or Inf",
        api_adapt(P, lambda: (_nan(sx), sy, 5)),
    )
    add(
        "api-inf-query",
        "api",
        "an infinite pixel in the queries",
        "error",
        "query_x contains 1 NaN or Inf",
        api_adapt(P, lambda: (sx, sy, 5), lambda: _nan(support(P, 3)[0], float("inf"))),
    )
    add(
        "api-labels-out-of-range",
        "api",
        "support label 7 in a 5-way task",
        "error",
        "labels must lie in 0..4",
        api_adapt(P, lambda: (sx, torch.tensor([0, 1, 2, 3, 7]), 5)),
    )
    add(
        "api-negative-labels",
        "api",
        "support label -1",
        "error",
        "labels must lie in 0..4",
        api_adapt(P, lambda: (sx, torch.tensor([0, 1, 2, 3, -1]), 5)),
    )
    add(
        "api-mismatched-lengths",
        "api",
        "5 support images but 4 labels",
        "error",
        "5 examples but support_y 4",
        api_adapt(P, lambda: (sx, sy[:4], 5)),
    )
    add(
        "api-float-labels",
        "api",
        "float labels (0.0, 1.0, ...)",
        "error",
        "integer class indices",
        api_adapt(P, lambda: (sx, sy.float(), 5)),
    )
    add(
        "api-ways-0",
        "api",
        "adapt(..., ways=0)",
        "error",
        "ways must be a positive integer",
        api_adapt(P, lambda: (sx, sy, 0)),
        found="ValueError `Support labels must lie in 0..-1`",
    )
    add(
        "api-wrong-channels",
        "api",
        "RGB images given to a grayscale ProtoNet",
        "error",
        "takes images of shape [..., 1, 28, 28]",
        api_adapt(P, lambda: (*support(P, c=3), 5)),
        found="RuntimeError from inside a convolution",
    )
    add(
        "api-query-wrong-size",
        "api",
        "32x32 queries for a 28x28 ProtoNet",
        "error",
        "query_x has shape (3, 1, 32, 32)",
        api_adapt(P, lambda: (sx, sy, 5), lambda: support(P, 3, size=32)[0]),
        found="RuntimeError `mat1 and mat2 shapes cannot be multiplied`",
    )
    add(
        "api-maml-wrong-size",
        "api",
        "100x100 images given to a 28x28 MAML",
        "error",
        "takes images of shape [..., 1, 28, 28]",
        api_adapt(MAML, lambda: (*support(MAML, size=100), 5)),
        found="RuntimeError `mat1 and mat2 shapes cannot be multiplied`",
    )
    add(
        "api-maml-no-channel-dim",
        "api",
        "images without a channel dimension ([5, 28, 28]) given to MAML",
        "error",
        "support_x has shape (5, 28, 28)",
        api_adapt(MAML, lambda: (support(MAML)[0][:, 0], support(MAML)[1], 5)),
        found="RuntimeError from inside a convolution",
    )
    add(
        "api-maml-more-classes",
        "api",
        "a 7-way support set for a 5-way MAML head",
        "error",
        "output layer has 5 classes",
        api_adapt(MAML, lambda: (support(MAML, 7)[0], torch.arange(7), 7)),
        found="IndexError `Target 5 is out of bounds`",
    )
    add(
        "api-maml-nan-support",
        "api",
        "a NaN pixel in a MAML support set",
        "error",
        "support_x contains 1 NaN",
        api_adapt(MAML, lambda: (_nan(support(MAML)[0]), support(MAML)[1], 5)),
    )
    add(
        "api-regression-nan-query",
        "api",
        "a NaN query x for a sinusoid MAML",
        "error",
        "query_x contains 1 NaN",
        api_regression_nan,
    )
    add(
        "api-sampler-nan",
        "api",
        "EpisodeSampler over images holding a NaN",
        "error",
        "contain NaN or Inf",
        api_sampler_nan,
    )
    add(
        "api-sampler-too-many-ways",
        "api",
        "8-way episodes from 5 classes",
        "error",
        "has only 5 classes",
        api_sampler_ways,
    )
    add(
        "api-dataset-normalized",
        "api",
        "FewShotDataset of Normalize()d tensors (values < 0)",
        "error",
        "Drop the Normalize transform",
        api_dataset_normalized,
    )
    add("api-class-split-5", "api", "class_split of 5 classes", "error", "at least 6", api_class_split)

    # --- faults --------------------------------------------------------------------------------------------------
    add(
        "kill-mid-checkpoint-write",
        "faults",
        "a kill inside a checkpoint write (a torn .tmp beside last)",
        "ok",
        "resume from the intact checkpoint; the .tmp removed",
        ckpt_killed_write,
    )
    add(
        "disk-full-checkpoint",
        "faults",
        "disk full (ENOSPC) while writing a checkpoint",
        "error",
        "disk is full",
        disk_full_checkpoint,
    )
    add(
        "disk-full-train",
        "faults",
        "disk full (ENOSPC) while `fastadapt train` writes its run",
        "error",
        "disk is full",
        disk_full_train,
    )
    add(
        "disk-full-metrics-log",
        "faults",
        "disk full (ENOSPC) while a training appends to metrics.jsonl",
        "error",
        "metrics.jsonl failed: No space left on device. The disk is full",
        disk_full_log,
        needs=("omniglot",),
        found="exit 2 with only `[Errno 28] No space left on device`: no file named, no way forward",
    )
    add(
        "ctrl-c-during-train",
        "faults",
        "Ctrl-C during `fastadapt train`",
        "error",
        "interrupted",
        interrupted,
        code=130,
    )
    add(
        "eval-ways-0",
        "faults",
        "`fastadapt eval --ways 0`",
        "error",
        "--ways must be a positive integer",
        eval_flag("eval-ways-0", "--ways", "0"),
        found="0 replaced in silence by the run's own ways",
    )
    add(
        "eval-episodes-0",
        "faults",
        "`fastadapt eval --episodes 0`",
        "error",
        "--episodes must be a positive integer",
        eval_flag("eval-episodes-0", "--episodes", "0"),
        found="0 replaced in silence by the run's own eval_episodes",
    )
    add(
        "eval-shots-0",
        "faults",
        "`fastadapt eval --shots 0`",
        "error",
        "--shots must be a positive integer",
        eval_flag("eval-shots-0", "--shots", "0"),
        found="0 replaced in silence by the run's own shots",
    )
    add(
        "eval-queries-negative",
        "faults",
        "`fastadapt eval --queries -1`",
        "error",
        "--queries must be a positive integer",
        eval_flag("eval-queries-negative", "--queries", "-1"),
    )
    add(
        "eval-latency-negative",
        "faults",
        "`fastadapt eval --latency-tasks -1`",
        "error",
        "--latency-tasks must be",
        eval_flag("eval-latency-negative", "--latency-tasks", "-1"),
    )
    add(
        "eval-device-cuda-cpu-only",
        "faults",
        "`fastadapt eval --device cuda` on a CPU-only machine",
        "error",
        "asks for a GPU",
        eval_cuda,
        found="exit 1: internal error with a traceback (AssertionError `Torch not compiled with CUDA enabled`)",
    )
    add(
        "eval-device-unknown",
        "faults",
        "`fastadapt eval --device gpu0`",
        "error",
        "device='gpu0' is not a device",
        eval_flag("eval-device-unknown", "--device", "gpu0"),
    )
    add(
        "eval-bad-split",
        "faults",
        "`fastadapt eval --split dev`",
        "error",
        "invalid choice: 'dev'",
        eval_flag("eval-bad-split", "--split", "dev"),
    )
    add(
        "eval-shots-too-many",
        "faults",
        "`fastadapt eval --shots 19 --queries 5` (Omniglot has 20 drawings)",
        "error",
        "24 examples per class",
        eval_flag("eval-shots-too-many", "--shots", "19", "--queries", "5", data=True),
        needs=("omniglot",),
    )
    add(
        "eval-maml-more-ways",
        "faults",
        "`fastadapt eval --ways 20` of a 5-way MAML run",
        "error",
        "output layer has 5 classes",
        eval_flag("eval-maml-more-ways", "--ways", "20", kind="maml", data=True),
        needs=("omniglot",),
        found="exit 1: internal error with a traceback (IndexError `Target 5 is out of bounds`)",
    )
    add(
        "eval-grayscale-run-on-flowers",
        "faults",
        "`fastadapt eval --dataset flowers102-partial` of an Omniglot run",
        "error",
        "takes images of shape [..., 1, 28, 28]",
        eval_flag("eval-grayscale-run-on-flowers", "--dataset", "flowers102-partial", data=True),
        needs=("flowers",),
        found="exit 2 with torch's convolution message (`expected input[80, 3, 84, 84] to have 1 channels`)",
    )
    return c


CASES = _cases()
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
assert all(c.category in CATEGORIES and c.expect in ("error", "ok") for c in CASES)


def run_case(case: Case, ctx: Ctx) -> Outcome:
    """Run one case; an exception escaping the case itself is reported as a crash of the case."""
    try:
        return case.run(ctx)
    except Exception as e:  # noqa: BLE001
        return Outcome("crash", f"the case itself raised {type(e).__name__}: {e}")


def available(case: Case, data_root: Path | None) -> str:
    """Why ``case`` cannot run with this data root ("" when it can)."""
    files = {"omniglot": "omniglot/images_background.zip", "flowers": "flowers102-partial/flowers102-partial.zip"}
    for need in case.needs:
        if data_root is None or not (data_root / files[need]).exists():
            return f"needs {files[need]} under the data root"
    return ""
