"""Meta-training of learned optimizers on quadratics: learning happens, runs resume, the CLI dispatches."""

import json

import pytest
import torch

from fastadapt.cli import main
from fastadapt.optim.problems import build_family
from fastadapt.optim.rules import build_rule
from fastadapt.presets import get_preset
from fastadapt.train.l2o import train_l2o, validate


def tiny_cfg(**kw):
    cfg = get_preset("l2o-quadratic")
    cfg.update(
        steps=60,
        horizon=20,
        unroll=5,
        horizon_mult=2,
        log_every=10,
        ckpt_every=20,
        val_every=30,
        val_problems=8,
        eval_problems=3,
        tune_problems=2,
        lr_grid="0.01,0.1",
        lr=3e-3,
    )
    cfg.update(kw)
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize("net", ["lstm", "mlp"])
def test_short_meta_training_on_quadratics_lowers_the_meta_loss(tmp_path, net):
    cfg = tiny_cfg(l2o_net=net, **({"l2o_hidden": 16} if net == "mlp" else {}))
    torch.manual_seed(cfg["seed"])
    val_f = build_family(cfg, "quadratic", "val", cfg["eval_seed"])
    before, _ = validate(build_rule(cfg), val_f, cfg["val_problems"], cfg["horizon"])
    train_l2o(cfg, tmp_path / net, progress=False, evaluate=False)
    rows = [json.loads(r) for r in (tmp_path / net / "metrics.jsonl").read_text().splitlines()]
    after = min(r["val_loss"] for r in rows if "val_loss" in r)
    assert after < 0.7 * before, (before, after)
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_resume_refuses_changed_config_and_cli_round_trip(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train",
        "--preset",
        "l2o-quadratic",
        "--out",
        str(out),
        "--set",
        "steps=4",
        "--set",
        "horizon=6",
        "--set",
        "unroll=3",
        "--set",
        "log_every=2",
        "--set",
        "ckpt_every=2",
        "--set",
        "val_every=2",
        "--set",
        "val_problems=2",
        "--set",
        "eval_problems=2",
        "--set",
        "tune_problems=1",
        "--set",
        "horizon_mult=2",
        "--set",
        "lr_grid=0.01,0.1",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "quadratic test, 6 steps" in printed and "12 steps" in printed
    res = json.loads((out / "results.json").read_text())
    q = res["families"]["quadratic"]
    assert q["tuning"]["adam"]["grid"] == [0.01, 0.1] and q["h6"]["problems"] == 2
    assert (out / "curves_quadratic_h12.png").exists() and (out / "best.safetensors").exists()
    assert main(args) == 2  # existing run, no --resume
    cfg = json.loads((out / "config.json").read_text())
    with pytest.raises(ValueError, match="different configuration"):
        train_l2o({**cfg, "lr": 0.5}, out, resume=True, progress=False)
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    assert "learned" in capsys.readouterr().out
    again = json.loads((out / "eval.json").read_text())["families"]["quadratic"]["h6"]["optimizers"]
    assert again["learned"]["final_mean"] == pytest.approx(q["h6"]["optimizers"]["learned"]["final_mean"])
    assert main(args + ["--overwrite", "--set", "unroll=50"]) == 2  # invalid: the old run stays
    assert json.loads((out / "config.json").read_text())["steps"] == 4
    assert main(args + ["--set", "steps=2", "--overwrite"]) == 0  # replaced by the new run
    assert json.loads((out / "config.json").read_text())["steps"] == 2


def test_bad_config_is_explained(tmp_path):
    with pytest.raises(ValueError, match="unroll"):
        train_l2o(tiny_cfg(unroll=50), tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="lr_grid"):
        train_l2o(tiny_cfg(lr_grid="fast"), tmp_path / "y", progress=False)
