import os
import pickle

import pytest
import torch

from fastadapt import checkpoint as ck
from fastadapt.nn.conv4 import Conv4


def test_round_trip_model_and_optimizer(tmp_path):
    torch.manual_seed(0)
    m = Conv4()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(4, 1, 28, 28)).sum().backward()
    opt.step()
    ck.save_checkpoint(tmp_path / "c.safetensors", m, {"step": 3, "config": {"method": "x"}}, opt)
    m2, opt2 = Conv4(), torch.optim.Adam(Conv4().parameters())
    opt2 = torch.optim.Adam(m2.parameters(), lr=5.0)
    meta = ck.load_checkpoint(tmp_path / "c.safetensors", m2, opt2)
    assert meta["step"] == 3
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 1e-3
    for pid in s1["state"]:
        for k in s1["state"][pid]:
            assert torch.equal(torch.as_tensor(s1["state"][pid][k]), torch.as_tensor(s2["state"][pid][k]))


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickle_payload_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "best.safetensors"
    with open(path, "wb") as f:
        pickle.dump({"model": Boom()}, f)
    torch.save({"x": Boom()}, tmp_path / "t.safetensors")
    for p in (path, tmp_path / "t.safetensors"):
        with pytest.raises(ck.CheckpointError, match="not a safetensors checkpoint"):
            ck.load_checkpoint(p, Conv4())
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_other_model_refused(tmp_path):
    ck.save_checkpoint(tmp_path / "c.safetensors", Conv4(hidden=32), {"config": {"method": "protonet"}})
    with pytest.raises(ck.CheckpointError, match="belongs to another model"):
        ck.load_checkpoint(tmp_path / "c.safetensors", Conv4(hidden=64))


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(ck.CheckpointError, match="No checkpoint") as e:
        ck.load_checkpoint(tmp_path / "nope.safetensors", Conv4())
    assert "archive.json" not in str(e.value)
    (tmp_path / "results.json").write_text("{}")  # a finished run whose weights were moved to git history
    with pytest.raises(ck.CheckpointError, match="weights_in_history.*git checkout"):
        ck.load_checkpoint(tmp_path / "best.safetensors", Conv4())


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    ck.save_checkpoint(path, Conv4(), {"step": 1})
    before = path.read_bytes()

    def crash(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk is full"):
        ck.save_checkpoint(path, Conv4(hidden=8), {"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary left behind


def test_checkpoint_from_another_preset_refused_by_run_loader(tmp_path):
    import json

    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset
    from fastadapt.train.trainer import load_run

    proto = get_preset("omniglot-protonet-5w1s")
    ck.save_checkpoint(tmp_path / "best.safetensors", build_learner(proto), {"config": proto})
    (tmp_path / "config.json").write_text(json.dumps(get_preset("omniglot-maml-5w1s")))
    with pytest.raises(ck.CheckpointError, match="made by method 'protonet'"):
        load_run(tmp_path)


class WithPretrained(torch.nn.Module):
    """A frozen "pretrained" layer rebuilt at construction (from a seed, as a package would ship it) and a head."""

    def __init__(self, pretrained_seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(pretrained_seed)
        self.body = torch.nn.Linear(8, 8).requires_grad_(False)
        self.head = torch.nn.Linear(8, 2)

    def pretrained_keys(self):
        return [k for k in self.state_dict() if k.startswith("body.")]


def test_pretrained_weights_are_left_out_and_checked(tmp_path):
    m = WithPretrained()
    torch.nn.init.constant_(m.head.weight, 0.5)
    ck.save_checkpoint(tmp_path / "c.safetensors", m, {"step": 1})
    tensors, header = ck.read_checkpoint(tmp_path / "c.safetensors")
    assert sorted(tensors) == ["model.head.bias", "model.head.weight"]
    assert header["pretrained"]["keys"] == 2
    m2 = WithPretrained()
    ck.load_checkpoint(tmp_path / "c.safetensors", m2)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ck.CheckpointError, match="other pretrained weights"):
        ck.load_checkpoint(tmp_path / "c.safetensors", WithPretrained(pretrained_seed=1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_refused(tmp_path, bad):
    m = Conv4()
    with torch.no_grad():
        next(m.parameters()).view(-1)[0] = bad
    ck.save_checkpoint(tmp_path / "c.safetensors", m, {"config": {"method": "protonet"}})
    fresh = Conv4()
    before = [p.clone() for p in fresh.parameters()]
    with pytest.raises(ck.CheckpointError, match="non-finite weights"):
        ck.load_checkpoint(tmp_path / "c.safetensors", fresh)
    assert all(torch.equal(a, b) for a, b in zip(before, fresh.parameters()))  # nothing half-loaded
