"""The CLI end to end on real Omniglot with a small budget; the same short training checks that
ProtoNet learns (> 90% 5-way 1-shot on the test characters)."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from fastadapt.cli import main, parser

pytestmark = pytest.mark.slow
SHORT = [
    "steps=200",
    "train_ways=30",
    "val_every=100",
    "val_episodes=50",
    "eval_episodes=300",
    "log_every=50",
    "ckpt_every=100",
    "device=cpu",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "--preset", "omniglot-protonet-5w1s", "--out", str(out), "--data-root", str(data_root)]
    assert main(args + [a for s in SHORT for a in ("--set", s)]) == 0
    return out


def test_short_real_training_beats_90_percent(run):
    res = json.loads((run / "results.json").read_text())
    assert res["episodes"] == 300 and res["ways"] == 5 and res["shots"] == 1
    assert res["accuracy"] > 0.90, res["accuracy"]
    assert 0 <= res["ece"] < 0.2 and res["nll"] < 0.5


def test_eval_json_other_ways(run, data_root, capsys):
    assert main(["eval", str(run), "--ways", "20", "--episodes", "50", "--json", "--data-root", str(data_root)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ways"] == 20 and res["episodes"] == 50 and res["split"] == "test"
    assert 0.05 < res["accuracy"] <= 1 and set(res) >= {"accuracy", "ci95", "nll", "ece", "shots"}


def test_eval_within_alphabet_and_diagram(run, data_root, tmp_path, capsys):
    png = tmp_path / "rel.png"
    assert (
        main(
            [
                "eval",
                str(run),
                "--within-alphabet",
                "--episodes",
                "30",
                "--diagram",
                str(png),
                "--data-root",
                str(data_root),
            ]
        )
        == 0
    )
    assert "within-alphabet" in capsys.readouterr().out
    assert Image.open(png).size[0] > 100


def test_calibrate_fits_the_temperature_that_eval_then_applies(run, data_root, tmp_path, capsys):
    """`fastadapt calibrate` on the validation episodes `fastadapt eval --split val` draws: the stored temperature is
    applied by eval (same accuracy, the NLL of the fit, no higher than before); the test episodes are refused."""
    import shutil

    cal = tmp_path / "run"
    shutil.copytree(run, cal)
    val = ["--split", "val", "--episodes", "100", "--json", "--data-root", str(data_root)]
    assert main(["eval", str(cal), *val, "--latency-tasks", "0"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["calibrate", str(cal), "--episodes", "100", "--data-root", str(data_root)]) == 0
    assert "temperature" in capsys.readouterr().out
    rec = json.loads((cal / "calibration.json").read_text())
    assert rec["temperature"] > 0 and rec["temperature"] != 1.0 and rec["split"] == "val"
    assert rec["before"]["nll"] == pytest.approx(before["nll"]) and rec["after"]["nll"] <= before["nll"]
    assert main(["eval", str(cal), *val, "--latency-tasks", "0"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (before["calibration_temperature"], after["calibration_temperature"]) == (1.0, rec["temperature"])
    assert after["accuracy"] == before["accuracy"] and after["nll"] == pytest.approx(rec["after"]["nll"])
    assert main(["calibrate", str(cal), "--split", "test", "--seed", "2017", "--data-root", str(data_root)]) == 2
    assert "grade it on its own data" in capsys.readouterr().err


def test_eval_bn_transductive_changes_the_numbers_not_the_model(run, data_root, capsys):
    common = [
        "eval",
        str(run),
        "--episodes",
        "40",
        "--queries",
        "1",
        "--json",
        "--latency-tasks",
        "0",
        "--data-root",
        str(data_root),
    ]
    assert main(common) == 0
    running = json.loads(capsys.readouterr().out)
    assert main(common + ["--eval-bn", "transductive"]) == 0
    trans = json.loads(capsys.readouterr().out)
    assert (running["eval_bn"], trans["eval_bn"]) == ("running", "transductive")
    assert trans["nll"] != running["nll"] and trans["accuracy"] > 0.85
    assert main(common) == 0  # the run folder's model is unchanged
    assert json.loads(capsys.readouterr().out)["nll"] == running["nll"]


def extract(data_root, alphabet, char, drawings, dest):
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(data_root / "omniglot" / "images_evaluation.zip") as z:
        names = sorted(n for n in z.namelist() if f"/{alphabet}/character{char:02d}/" in n and n.endswith(".png"))
        for d in drawings:
            (dest / names[d].rsplit("/", 1)[1]).write_bytes(z.read(names[d]))


def test_adapt_on_real_omniglot_pngs(run, data_root, tmp_path, capsys):
    sup, qry = tmp_path / "support", tmp_path / "query"
    for c in range(1, 6):
        extract(data_root, "Tengwar", c, [0], sup / f"glyph{c}")
        extract(data_root, "Tengwar", c, [1, 2], qry / f"glyph{c}")
    out_json = tmp_path / "pred.json"
    assert main(["adapt", str(run), "--support", str(sup), "--query", str(qry), "--json", str(out_json)]) == 0
    rows = json.loads(out_json.read_text())
    assert len(rows) == 10 and all(0 < r["probability"] <= 1 for r in rows)
    correct = np.mean([r["class"] == r["query"].split("/")[-2] for r in rows])
    assert correct >= 0.7, rows
    assert "glyph" in capsys.readouterr().out


def test_adapt_bad_folders(run, data_root, tmp_path, capsys):
    sup, qry = tmp_path / "s", tmp_path / "q"
    extract(data_root, "Tengwar", 1, [0], sup / "a")
    extract(data_root, "Tengwar", 2, [1], qry)
    (sup / "b").mkdir()
    assert main(["adapt", str(run), "--support", str(sup), "--query", str(qry)]) == 2
    assert "is empty" in capsys.readouterr().err
    (sup / "b" / "notes.txt").write_text("hello")
    assert main(["adapt", str(run), "--support", str(sup), "--query", str(qry)]) == 2
    assert "not a readable image" in capsys.readouterr().err
    (sup / "b" / "notes.txt").unlink()
    Image.new("RGB", (105, 105), (255, 0, 0)).save(sup / "b" / "red.png")
    assert main(["adapt", str(run), "--support", str(sup), "--query", str(qry)]) == 2
    assert "mode 'RGB'" in capsys.readouterr().err


def test_presets_data_and_errors(data_root, capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(f"omniglot-protonet-{s}" in out for s in ("5w1s", "5w5s", "20w1s", "20w5s"))
    assert main(["data", "omniglot", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "50 alphabets, 1623 characters, 32460 images" in out and "train 1028" in out
    assert main(["train", "--preset", "omniglot-protonet-5w1", "--out", "/tmp/never"]) == 2
    assert "Did you mean 'omniglot-protonet-5w1s'" in capsys.readouterr().err
    assert main(["train", "--preset", "omniglot-protonet-5w1s", "--set", "stpes=3", "--out", "/tmp/never"]) == 2
    assert "Did you mean 'steps'" in capsys.readouterr().err
    assert main(["train", "--preset", "omniglot-protonet-5w1s", "--set", "steps=many", "--out", "/tmp/never"]) == 2
    assert "expected an integer" in capsys.readouterr().err
    assert main(["eval", "/tmp/definitely-not-a-run"]) == 2
    assert "not a fastadapt run folder" in capsys.readouterr().err


def test_episodes_too_big_for_split(run, data_root, capsys):
    assert main(["eval", str(run), "--shots", "19", "--queries", "5", "--data-root", str(data_root)]) == 2
    assert "24 examples per class" in capsys.readouterr().err


def test_set_takes_several_values_and_repeats():
    a = parser().parse_args(["train", "--preset", "p", "--set", "steps=3", "lr=0.1", "--set", "seed=2", "--out", "o"])
    assert a.set == ["steps=3", "lr=0.1", "seed=2"] and a.out == "o"
