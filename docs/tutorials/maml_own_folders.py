"""Tutorial 2: MAML on your own image folders, with the command line.

Your data is a folder with one sub-folder of images per class, ``DIR/<class name>/<images>``. Here we make such a
tree from Omniglot characters (any PNG or JPEG photos work the same way), let fastadapt decode it once and split
its classes into train / val / test, meta-train second-order MAML (Finn et al. 2017) on the training classes, and
classify images of unseen classes with ``fastadapt adapt``.

    python docs/tutorials/maml_own_folders.py                               # 300 meta-iterations: about 5 min
    FASTADAPT_TUTORIAL_SMALL=1 python docs/tutorials/maml_own_folders.py    # 10 meta-iterations, the CI setting

Each ``fastadapt ...`` line it prints is the shell command it runs (in-process, through ``fastadapt.cli.main``).
Files go to runs/tutorials/maml-own-folders/ (or $FASTADAPT_TUTORIAL_OUT/maml-own-folders/).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import sys
import zipfile
from pathlib import Path

from PIL import Image

from fastadapt.cli import main
from fastadapt.tasks.omniglot import archive_paths

SMALL = os.environ.get("FASTADAPT_TUTORIAL_SMALL") == "1"
CLASSES = 30 if SMALL else 60  # >= 29 classes: 5 classes each for validation and test (5-way episodes)
STEPS, META_BATCH, EPISODES = (10, 4, 50) if SMALL else (300, 8, 600)
OUT = Path(os.environ.get("FASTADAPT_TUTORIAL_OUT", "runs/tutorials")) / "maml-own-folders"


def fastadapt(*args: object) -> None:
    """Run one `fastadapt` command as the shell would, and stop on an error."""
    argv = [str(a) for a in args]
    print("$ fastadapt " + " ".join(shlex.quote(a) for a in argv), flush=True)
    code = main(argv)
    if code:
        sys.exit(code)


# 1. An image folder: DIR/<class>/<image>.png. Here: the first CLASSES characters of Omniglot's evaluation
#    alphabets, 20 drawings each (the archive is read from $FASTADAPT_DATA, downloaded when missing).
images = OUT / "my_images"
shutil.rmtree(images, ignore_errors=True)
with zipfile.ZipFile(archive_paths()["images_evaluation"]) as zf:
    pngs = sorted(n for n in zf.namelist() if n.endswith(".png"))
    chars = sorted({n.rsplit("/", 1)[0] for n in pngs})[:CLASSES]
    for char in chars:
        folder = images / char.split("/", 1)[1].replace("/", "_")  # e.g. Angelic_character01
        folder.mkdir(parents=True)
        for n in (p for p in pngs if p.startswith(char + "/")):
            Image.open(io.BytesIO(zf.read(n))).convert("L").save(folder / n.rsplit("/", 1)[1])
print(f"made {images}: {len(chars)} classes x 20 images")

# 2. Decode it once into DIR/.fastadapt-cache/ (28x28 grayscale, as the Omniglot presets expect) and split the
#    classes reproducibly into train / val / test (DIR/.fastadapt-cache/split.json; edit it to move classes).
fastadapt("data", "folder", images, "--size", 28, "--channels", 1)
split = json.loads((images / ".fastadapt-cache" / "split.json").read_text())

# 3. Meta-train MAML: the preset's network and inner loop (Conv4, 1 inner SGD step of lr 0.4, 3 at test), on
#    episodes of the folder's training classes. --set shortens the run; --overwrite replaces an earlier one.
run = OUT / "run"
fastadapt(
    "train",
    "--preset",
    "omniglot-maml-5w1s",
    "--dataset",
    f"folder:{images}",
    "--out",
    run,
    "--overwrite",
    "--set",
    f"steps={STEPS}",
    "--set",
    f"meta_batch={META_BATCH}",
    "--set",
    f"val_every={STEPS}",
    "--set",
    f"ckpt_every={STEPS}",
    "--set",
    f"log_every={max(1, STEPS // 5)}",
    "--set",
    f"val_episodes={EPISODES}",
    "--set",
    f"eval_episodes={EPISODES}",
)
results = json.loads((run / "results.json").read_text())

# 4. Use it: five unseen classes, one labelled example each (support/<class>/), and the rest of their images to
#    classify (query/<class>/, filed by class only so that we can count the right answers).
support, query = OUT / "support", OUT / "query"
for d in (support, query):
    shutil.rmtree(d, ignore_errors=True)
for cls in split["test"][:5]:
    files = sorted((images / cls).glob("*.png"))
    (support / cls).mkdir(parents=True)
    (query / cls).mkdir(parents=True)
    shutil.copy(files[0], support / cls)
    for f in files[1:6]:
        shutil.copy(f, query / cls)
fastadapt(
    "adapt",
    run,
    "--support",
    support,
    "--query",
    query,
    "--json",
    OUT / "predictions.json",
    "--sheet",
    OUT / "contact_sheet.png",
)
rows = json.loads((OUT / "predictions.json").read_text())
right = sum(r["class"] == Path(r["query"]).parent.name for r in rows)
print(f"fastadapt adapt: {right} of {len(rows)} query images of unseen classes classified right")
print(
    f"test accuracy (5-way 1-shot, {results['episodes']} episodes of the folder's test classes): "
    f"{100 * results['accuracy']:.2f} +- {100 * results['ci95']:.2f}%"
)
print(f"RESULT maml_own_folders_accuracy={results['accuracy']:.4f}")
