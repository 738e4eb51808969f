"""The run folder bookkeeping shared by both meta-training loops."""
import json
import math

import pytest
import torch

from fastadapt.presets import get_preset
from fastadapt.train.checkpoint import CheckpointError, save_checkpoint
from fastadapt.train.run_log import BEST, LAST, RunLog, check_resumable, git_commit, prepare_out, truncate_log

CFG = {"steps": 10, "log_every": 2, "ckpt_every": 4, "val_every": 5, "lr": 1e-2, "lr_decay": 0.5,
       "lr_decay_every": 3}


def _model_opt():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def test_cadence_schedule_and_window_average(tmp_path):
    model, opt = _model_opt()
    run = RunLog(tmp_path, CFG, model, opt, resume=False)
    assert [d for d in range(1, 11) if run.due(d, "val_every")] == [5, 10]
    assert [d for d in range(1, 11) if run.due(d, "ckpt_every")] == [4, 8, 10]      # the last step always
    assert [run.lr(s) for s in (0, 2, 3, 6)] == [1e-2, 1e-2, 5e-3, 2.5e-3]
    assert run.add(1, {"loss": 1.0}) == {}
    assert run.add(2, {"loss": 3.0}) == {"loss": 2.0}                                 # mean over the window
    run.write(2, {"loss": 2.0}, 1e-2)
    rec = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert rec["step"] == 2 and rec["loss"] == 2.0 and rec["lr"] == 1e-2 and rec["time"] >= 0
    assert json.loads((tmp_path / "config.json").read_text()) == dict(CFG, commit=git_commit())


def test_resume_restores_state_and_refuses_another_config(tmp_path):
    model, opt = _model_opt()
    run = RunLog(tmp_path, CFG, model, opt, resume=False, worst=math.inf)
    run.best = 0.25
    run.checkpoint(3, model, opt)
    assert not (tmp_path / LAST).exists()                                             # 3 is not a checkpoint step
    run.checkpoint(4, model, opt)
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    resumed = RunLog(tmp_path, CFG, fresh, fresh_opt, resume=True, worst=math.inf)
    assert resumed.start == 4 and resumed.best == 0.25 and resumed.elapsed >= 0
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(ValueError, match=r"different configuration \(keys \['lr'\]\)"):
        RunLog(tmp_path, dict(CFG, lr=1.0), fresh, fresh_opt, resume=True)


def test_resume_accepts_more_steps_and_options_added_at_their_preset_value():
    cfg = get_preset("omniglot-mann-5class")
    check_resumable(cfg, dict(cfg, steps=cfg["steps"] + 10), cfg["steps"])              # extend a finished run
    with pytest.raises(ValueError, match="already done 7 steps"):
        check_resumable(cfg, dict(cfg, steps=5), 7)
    older = {k: v for k, v in cfg.items() if k != "mann_erase"}                           # saved before the option
    check_resumable(older, cfg, 3)
    with pytest.raises(ValueError, match=r"keys \['mann_erase'\]"):
        check_resumable(older, dict(cfg, mann_erase="one"), 3)


def test_truncate_log_drops_records_after_the_checkpoint(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in (2, 4, 6)))
    truncate_log(log, 4)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [2, 4]


def test_prepare_out_refuses_an_existing_run_without_resume(tmp_path):
    (tmp_path / LAST).write_bytes(b"x")
    with pytest.raises(FileExistsError, match="--resume"):
        prepare_out(tmp_path, resume=False)
    prepare_out(tmp_path, resume=True)


def test_init_from_starts_with_a_trained_runs_weights_and_a_fresh_optimizer(tmp_path):
    trained, _ = _model_opt()
    with torch.no_grad():
        trained.weight.add_(1.0)
    (tmp_path / "a").mkdir()
    save_checkpoint(tmp_path / "a" / BEST, trained, {"config": CFG})
    model, opt = _model_opt()
    start = lambda source, m=model: RunLog(tmp_path / "b", dict(CFG, init_from=source), m, opt,  # noqa: E731
                                           resume=False, write=False)
    assert start(str(tmp_path / "a")).start == 0                                        # a run folder: its best
    assert torch.equal(model.weight, trained.weight) and not opt.state
    with pytest.raises(FileNotFoundError, match="init_from='.*missing'"):
        start(str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="shape mismatch"):                        # another architecture
        start(str(tmp_path / "a" / BEST), torch.nn.Linear(3, 4))


def test_encoder_from_loads_another_runs_encoder_and_nothing_else(tmp_path):
    from fastadapt.learners.mann import MANN
    from fastadapt.learners.protonet import ProtoNet
    from fastadapt.nn.conv4 import Conv4
    torch.manual_seed(1)
    proto = ProtoNet(Conv4(hidden=8))
    (tmp_path / "proto").mkdir()
    save_checkpoint(tmp_path / "proto" / BEST, proto, {"config": {"method": "protonet"}})
    mann = MANN(image_size=16, encoder="conv4", hidden=8, controller=8, slots=4, width=4, heads=1)
    before = {k: v.clone() for k, v in mann.state_dict().items() if not k.startswith("encoder.")}
    opt = torch.optim.Adam(mann.parameters())
    start = lambda m, source=str(tmp_path / "proto"): RunLog(tmp_path / "run", dict(CFG, encoder_from=source),  # noqa: E731
                                                             m, opt, resume=False, write=False)
    start(mann)
    for k, v in proto.encoder.state_dict().items():
        assert torch.equal(mann.encoder.state_dict()[k], v)
    assert all(torch.equal(mann.state_dict()[k], v) for k, v in before.items())        # the rest untouched
    with pytest.raises(CheckpointError, match="no encoder shaped like"):                # another width
        start(MANN(image_size=16, encoder="conv4", hidden=4, controller=8, slots=4, width=4, heads=1))
    with pytest.raises(ValueError, match="mann_encoder=conv4"):                         # pixels: nothing to load
        start(MANN(image_size=16, controller=8, slots=4, width=4, heads=1))
