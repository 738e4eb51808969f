"""Benchmark and demo: `fastadapt adapt` on 25 support photos (5 flower species x 5) and 50 query photos with the
committed flowers run (frozen ImageNet EfficientNet-Lite0, no meta-training), as a user runs it: a fresh process,
model loading included. Writes the contact sheet shown in the README and the timing (the goal: under 5 s on 2 CPU
cores), and the accuracy on the 50 queries.

    python benchmarks/adapt_flowers.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

from fastadapt.tasks.omniglot import data_root
from fastadapt.train.trainer import git_commit, machine

SPECIES = ("005", "011", "046", "051", "077")  # class ids of flowers102-partial (see its classes.json)


def write_photos(folder: Path) -> tuple[Path, Path, dict[str, str]]:
    """5 support and 10 query photos per species, as JPEG files named by species (queries in per-species folders
    so the answer is known)."""
    root = data_root() / "flowers102-partial"
    names = json.loads((root / "classes.json").read_text())
    sup, qry = folder / "support", folder / "query"
    with zipfile.ZipFile(root / "flowers102-partial.zip") as zf:
        files = sorted(zf.namelist())
        for cls in SPECIES:
            label = names[cls]["name"].replace(" ", "_")
            mine = [n for n in files if n.startswith(cls + "/")][:15]
            for i, n in enumerate(mine):
                dest = (sup / label if i < 5 else qry / label) / Path(n).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                Image.open(io.BytesIO(zf.read(n))).save(dest, "JPEG", quality=95)
    return sup, qry, {c: names[c]["name"] for c in SPECIES}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default="results/flowers-efficientnet-protonet")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sheet", default="docs/img/flowers_contact_sheet.png")
    p.add_argument("--out", default="results/adapt_flowers.json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sup, qry, species = write_photos(Path(tmp))
        preds = Path(tmp) / "preds.json"
        Path(a.sheet).parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "fastadapt",
            "adapt",
            a.run,
            "--support",
            str(sup),
            "--query",
            str(qry),
            "--json",
            str(preds),
            "--sheet",
            a.sheet,
        ]
        seconds = []
        for _ in range(a.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ))
            seconds.append(time.perf_counter() - start)
        rows = json.loads(preds.read_text())
    correct = sum(r["class"] == Path(r["query"]).parent.name for r in rows)
    out = {
        "benchmark": "fastadapt adapt, 25 support + 50 query flower photos (84x84 JPEG), fresh process each",
        "command": " ".join(["fastadapt", *cmd[3:]]),
        "species": species,
        "queries": len(rows),
        "query_accuracy": correct / len(rows),
        "seconds": [round(s, 2) for s in seconds],
        "best_seconds": round(min(seconds), 2),
        "goal_seconds": 5.0,
        "commit": git_commit(),
        "machine": machine(),
    }
    Path(a.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
