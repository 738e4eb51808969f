"""The gp-cnp / gp-np / omniglot-versa presets run end to end through the trainer and the CLI."""

import json

import pytest
import torch

from fastadapt.cli import main
from fastadapt.presets import apply_overrides, get_preset
from fastadapt.train.trainer import train

TINY = ["steps=20", "log_every=10", "ckpt_every=20", "val_every=20", "val_episodes=20", "eval_episodes=40"]


@pytest.mark.parametrize("name", ["gp-cnp", "gp-np", "gp-anp"])
def test_gp_presets_train_and_eval(tmp_path, name, capsys):
    cfg = apply_overrides(get_preset(name), TINY)
    res = train(cfg, tmp_path / name, progress=False)
    assert res["episodes"] == 40 and "nll" in res and res["mse"] > 0
    assert main(["eval", str(tmp_path / name), "--episodes", "20", "--shots", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["shots"] == 10 and "nll" in out


def test_versa_presets_registered():
    for w in (5, 20):
        for k in (1, 5):
            cfg = get_preset(f"omniglot-versa-{w}w{k}s")
            assert cfg["method"] == "versa" and cfg["ways"] == w and cfg["shots"] == k == cfg["train_shots"]
            assert cfg["versa_samples"] == 10


@pytest.mark.parametrize(
    "name, encoder", [("gp-cnp", "encoder"), ("gp-np", "det_encoder"), ("gp-np", "latent_encoder")]
)
def test_gp_presets_set_width_and_depth(name, encoder):
    from fastadapt.configs import build_learner

    cfg = apply_overrides(get_preset(name), ["np_hidden=32", "np_encoder_layers=2", "np_decoder_layers=5"])
    model = build_learner(cfg)
    widths = lambda mlp: [m.out_features for m in mlp if isinstance(m, torch.nn.Linear)]  # noqa: E731
    assert widths(getattr(model, encoder)) == [32, 32]
    assert widths(model.decoder)[:-1] == [32] * 5  # five hidden layers, then the Gaussian head
