"""Your own data for meta-training (fastadapt.tasks.own_data): FewShotDataset over any (image, label) dataset, the
reproducible class split, ImageFolder trees decoded once into a cache, `fastadapt data folder`, `fastadapt train
--dataset folder:DIR`; runs that record their data root; `fastadapt --version`. All on tiny generated images."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest
import torch
from PIL import Image

from fastadapt.cli import main, package_version
from fastadapt.tasks import DATASETS, EpisodeSampler, build_sampler, own_data
from fastadapt.tasks.folders import ImageFolderError
from fastadapt.tasks.own_data import FewShotDataset, class_split, folder_split, image_folder_classes

CLASSES, PER_CLASS = 12, 6


def colour(c: int) -> tuple[int, int, int]:
    return (20 * c + 10, (67 * c) % 256, 250 - 19 * c)


def write_image(path: Path, c: int, i: int, kind: str) -> None:
    """Class ``c``'s ``i``-th image: its solid colour with a small bright square where ``i`` says."""
    img = Image.new("RGB", (16, 16) if kind != "wide" else (24, 12), colour(c))
    if i:
        img.paste((255, 255, 255), (2 * i, 2 * i, 2 * i + 3, 2 * i + 3))
    if kind == "gray":
        img.convert("L").save(path.with_suffix(".png"))
    elif kind == "jpeg":
        img.save(path.with_suffix(".jpg"), quality=95)
    else:
        img.save(path.with_suffix(".png"))


def make_tree(root: Path, classes: int = CLASSES, per_class: int = PER_CLASS) -> Path:
    """``root/class_NN/img_M.{png,jpg}``: every fourth class grayscale, every fourth JPEG, one wider than tall."""
    for c in range(classes):
        kind = ("rgb", "gray", "jpeg", "wide")[c % 4]
        (root / f"class_{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            write_image(root / f"class_{c:02d}" / f"img_{i}", c, i, kind)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "birds")


def test_version(capsys, monkeypatch):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastadapt {package_version()}"

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.version", missing)
    assert package_version() == "0.1.0"  # read from pyproject.toml


def test_folder_is_decoded_once_then_read_from_its_cache(tree, monkeypatch):
    data = image_folder_classes(tree, 16, 3)
    assert data.x.shape == (CLASSES * PER_CLASS, 3, 16, 16) and data.x.dtype == torch.uint8
    assert data.class_names == [f"class_{c:02d}" for c in range(CLASSES)]
    assert data.y.tolist() == [c for c in range(CLASSES) for _ in range(PER_CLASS)]
    assert data.x[0, :, 0, 0].tolist() == list(colour(0))  # RGB PNG, exact
    assert data.x[PER_CLASS, 0, 0, 0] == data.x[PER_CLASS, 2, 0, 0]  # grayscale PNG as RGB
    cache = tree / ".fastadapt-cache"
    index = json.loads((cache / "images-16px-3c.json").read_text())
    assert len(index["files"]) == CLASSES * PER_CLASS and index["files"][0][0] == "class_00/img_0.png"

    def no_rebuild(*a, **k):
        raise AssertionError("the cache was rebuilt although no file changed")

    monkeypatch.setattr(own_data, "_build_cache", no_rebuild)
    assert torch.equal(image_folder_classes(tree, 16, 3).x, data.x)
    monkeypatch.undo()
    write_image(tree / "class_03" / "img_9", 3, 1, "rgb")  # a new file: rebuilt
    assert len(image_folder_classes(tree, 16, 3).x) == CLASSES * PER_CLASS + 1


def test_grayscale_folder_with_one_channel_has_the_ink_bright(tmp_path):
    for c in range(2):
        (tmp_path / f"c{c}").mkdir()
        Image.new("L", (16, 16), 40 + 100 * c).save(tmp_path / f"c{c}" / "a.png")
    data = image_folder_classes(tmp_path, 8, 1)
    assert data.x.shape == (2, 1, 8, 8) and data.x[:, 0, 0, 0].tolist() == [215, 115]  # 255 - v, as adapt reads


def test_class_split_is_reproducible_and_saved(tree):
    names = [f"class_{c:02d}" for c in range(CLASSES)]
    split = class_split(names)
    assert split == class_split(list(reversed(names))) and split != class_split(names, seed=1)
    assert [len(split[p]) for p in ("train", "val", "test")] == [8, 2, 2]
    assert sorted(sum(split.values(), [])) == names
    assert [len(v) for v in class_split([f"n{i}" for i in range(32)]).values()] == [21, 5, 6]
    got, path = folder_split(tree, names)
    assert got == split and path == tree / ".fastadapt-cache" / "split.json"
    saved = json.loads(path.read_text())
    assert {p: saved[p] for p in split} == split
    saved["val"].append(saved["train"].pop())  # a user's edit is kept
    path.write_text(json.dumps(saved))
    assert folder_split(tree, names)[0]["val"] == saved["val"]


@pytest.mark.parametrize(
    "names, fractions, match",
    [
        (["a", "b", "c", "d", "e"], (0.64, 0.16, 0.2), "5 classes cannot be split.*at least 6"),
        (["a", "a", "b"], (0.64, 0.16, 0.2), "duplicates"),
        ([str(i) for i in range(10)], (0.5, 0.5, 0.5), "three positive numbers summing to 1"),
    ],
)
def test_class_split_errors(names, fractions, match):
    with pytest.raises(ValueError, match=match):
        class_split(names, fractions)


def test_too_few_classes_for_five_way_episodes_says_what_to_do(tree):
    cfg = {"dataset": f"folder:{tree}", "image_size": 16, "channels": 3}
    assert build_sampler(cfg, "val", 2, 1, 2, 0).batch(0).support_x.shape == (1, 2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"val part of .* holds 2 classes .*split.json.*too few for 5-way.*--set ways"):
        build_sampler(cfg, "val", 5, 1, 2, 0)


@pytest.mark.parametrize(
    "damage, match",
    [
        ("one_class", "holds 1 class folder"),
        ("empty_class", "class_01 is empty"),
        ("not_an_image", "notes.txt is not a readable image.*Remove it"),
        ("missing", "does not exist; expected"),
    ],
)
def test_bad_trees_give_clear_errors(tmp_path, damage, match):
    root = tmp_path / "data"
    if damage == "one_class":
        make_tree(root, classes=1)
    elif damage != "missing":
        make_tree(root, classes=3, per_class=2)
    if damage == "empty_class":
        for f in (root / "class_01").iterdir():
            f.unlink()
    if damage == "not_an_image":
        (root / "class_02" / "notes.txt").write_text("not a picture")
    with pytest.raises(ImageFolderError, match=match):
        image_folder_classes(root, 16, 3)


class Items(torch.utils.data.Dataset):
    """A small in-memory dataset: PIL images (RGB, grayscale, another size) and tensors (float, uint8, 2-d)."""

    classes = ["cat", "dog", "owl"]

    def __init__(self) -> None:
        self.items = [
            (Image.new("RGB", (16, 16), (255, 0, 0)), 0),
            (Image.new("L", (32, 8), 128), 0),
            (torch.full((3, 16, 16), 0.5), torch.tensor(1)),
            (torch.full((1, 16, 16), 200, dtype=torch.uint8), 1),
            (torch.zeros(16, 16), 2),
            (torch.ones(3, 8, 8), 2),
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def test_few_shot_dataset_materializes_the_images():
    data = FewShotDataset(Items(), size=16, channels=3)
    assert data.x.shape == (6, 3, 16, 16) and data.x.dtype == torch.uint8 and data.y.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.class_names == ["cat", "dog", "owl"] and len(data) == 6
    pixels = [data.x[i, :, 5, 5].tolist() for i in range(6)]
    assert pixels == [[255, 0, 0], [128] * 3, [128] * 3, [200] * 3, [0] * 3, [255] * 3]
    task = data.sampler(ways=2, shots=1, queries=1, classes=["cat", "owl"]).batch(0)[0]
    assert task.support_x.shape == (2, 3, 16, 16) and task.support_x.dtype == torch.float32
    gray = FewShotDataset(Items(), size=8, channels=1)
    assert gray.x.shape == (6, 1, 8, 8) and gray.x[0, 0, 0, 0] == 76  # red as luminance
    assert isinstance(data.sampler(2, 1, 1), EpisodeSampler)


@pytest.mark.parametrize(
    "item, match",
    [
        ((torch.full((3, 4, 4), 2.0), 0), r"values span \[2, 2\]; expected floats in \[0, 1\]"),
        ((torch.zeros(4, 4, 3), 0), "expected \\[C, H, W\\]"),
        ((torch.zeros(3, 4, 4), "cat"), "not an integer class id"),
        (([1, 2], 0), "expected a PIL image or a \\[C, H, W\\] tensor"),
    ],
)
def test_few_shot_dataset_errors(item, match):
    with pytest.raises(ValueError, match=match):
        FewShotDataset([item], size=4)


SMALL = [
    "image_size=16",
    "channels=3",
    "steps=3",
    "val_every=3",
    "ckpt_every=3",
    "log_every=1",
    "eval_episodes=5",
    "val_episodes=5",
    "train_ways=5",
    "queries=2",
    "train_queries=2",
    "ways=2",
    "device=cpu",
]


def test_train_and_eval_on_an_image_folder(tree, tmp_path, capsys):
    assert main(["data", "folder", str(tree), "--size", "16"]) == 0
    shown = capsys.readouterr().out
    assert "12 classes, 72 images at 16x16 RGB" in shown and "train: 8 classes" in shown
    assert str(tree / ".fastadapt-cache" / "split.json") in shown
    out = tmp_path / "run"
    args = ["train", "--preset", "omniglot-protonet-5w1s", "--dataset", f"folder:{tree}", "--out", str(out)]
    assert main(args + [a for s in SMALL for a in ("--set", s)]) == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["episodes"] == 5 and 0 <= res["accuracy"] <= 1 and res["config"]["dataset"] == f"folder:{tree}"
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "4", "--json", "--latency-tasks", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 4


def probe_sampler(cfg, part, ways, shots, queries, seed, within_group=False):
    """A task family whose data is a marker file under the data root: it fails where the root is not found."""
    from fastadapt.tasks.omniglot import data_root

    root = data_root(cfg.get("data_root") or None)
    if not (root / "probe.txt").exists():
        raise FileNotFoundError(f"no probe data under {root}")
    x = torch.randint(0, 256, (40, 1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return EpisodeSampler(x, torch.arange(10).repeat_interleave(4), ways, shots, queries, seed=seed)


def test_a_run_remembers_its_data_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(DATASETS, "probe", probe_sampler)
    data, other = tmp_path / "data", tmp_path / "other"
    for d in (data, other):
        d.mkdir()
        (d / "probe.txt").write_text("")
    monkeypatch.setenv("FASTADAPT_DATA", str(data))
    out = tmp_path / "run"
    sets = [
        "dataset=probe",
        "image_size=16",
        "steps=2",
        "val_every=2",
        "ckpt_every=2",
        "log_every=1",
        "eval_episodes=3",
        "val_episodes=3",
        "train_ways=5",
        "queries=1",
        "train_queries=2",
        "device=cpu",
    ]
    args = ["train", "--preset", "omniglot-protonet-5w1s", "--out", str(out)] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0, capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["data_root"] == str(data)
    monkeypatch.delenv("FASTADAPT_DATA")
    evaluate = ["eval", str(out), "--episodes", "2", "--json", "--latency-tasks", "0"]
    assert main(evaluate) == 0, capsys.readouterr().err  # found without FASTADAPT_DATA
    assert main(args + ["--set", "steps=4", "--resume"]) == 0, capsys.readouterr().err  # same config on resume
    (data / "probe.txt").unlink()
    assert main(evaluate + ["--data-root", str(other)]) == 0, capsys.readouterr().err  # --data-root overrides
    assert main(evaluate) == 2 and "no probe data" in capsys.readouterr().err


def test_quickstart_never_deletes_an_earlier_run(tmp_path):
    """Re-running scripts/quickstart.sh keeps the first run and trains into a numbered folder (the script runs here
    with stand-ins for the setup step and the fastadapt command, which record their arguments)."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "quickstart.sh").write_text((repo / "scripts" / "quickstart.sh").read_text())
    (tmp_path / "scripts" / "setup.sh").write_text("")
    fake = tmp_path / ".venv" / "bin" / "fastadapt"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/usr/bin/env bash\necho "$@" >> "$(dirname "$0")/calls"\n')
    fake.chmod(0o755)
    first = tmp_path / "runs" / "quickstart-protonet-5w1s"
    first.mkdir(parents=True)
    (first / "best.safetensors").write_bytes(b"an earlier run")
    for _ in range(2):
        subprocess.run(
            ["bash", "scripts/quickstart.sh"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "FASTADAPT_DATA": str(tmp_path)},
        )
        (tmp_path / "runs" / "quickstart-protonet-5w1s-2").mkdir(exist_ok=True)  # what the training creates
    calls = (fake.parent / "calls").read_text().splitlines()
    outs = [c.split("--out ")[1].split()[0] for c in calls if c.startswith("train")]
    assert outs == ["runs/quickstart-protonet-5w1s-2", "runs/quickstart-protonet-5w1s-3"]
    assert (first / "best.safetensors").read_bytes() == b"an earlier run"
