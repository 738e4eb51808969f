"""The run folder bookkeeping of the one meta-training loop."""

import json

import pytest
import torch

from fastadapt.checkpoint import CheckpointError, save_checkpoint
from fastadapt.presets import get_preset
from fastadapt.train import run_log
from fastadapt.train.run_log import (
    BEST,
    LAST,
    RunLog,
    best_score,
    check_resumable,
    git_commit,
    prepare_out,
    read_calibration,
    truncate_log,
)

CFG = {"steps": 10, "log_every": 2, "ckpt_every": 4, "val_every": 5, "lr": 1e-2, "lr_decay": 0.5, "lr_decay_every": 3}


def _model_opt():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def test_cadence_schedule_and_window_average(tmp_path):
    model, opt = _model_opt()
    run = RunLog(tmp_path, CFG, model, opt, resume=False)
    assert [d for d in range(1, 11) if run.due(d, "val_every")] == [5, 10]
    assert [d for d in range(1, 11) if run.due(d, "ckpt_every")] == [4, 8, 10]  # the last step always
    assert [run.lr(s) for s in (0, 2, 3, 6)] == [1e-2, 1e-2, 5e-3, 2.5e-3]
    assert run.add(1, {"loss": 1.0}) == {}
    assert run.add(2, {"loss": 3.0}) == {"loss": 2.0}  # mean over the window
    run.write(2, {"loss": 2.0}, 1e-2)
    rec = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert rec["step"] == 2 and rec["loss"] == 2.0 and rec["lr"] == 1e-2 and rec["time"] >= 0
    assert json.loads((tmp_path / "config.json").read_text()) == dict(CFG, commit=git_commit())


def test_resume_restores_state_and_refuses_another_config(tmp_path):
    model, opt = _model_opt()
    run = RunLog(tmp_path, CFG, model, opt, resume=False)
    run.best = 0.25
    run.checkpoint(3, model, opt)
    assert not (tmp_path / LAST).exists()  # 3 is not a checkpoint step
    run.checkpoint(4, model, opt)
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    resumed = RunLog(tmp_path, CFG, fresh, fresh_opt, resume=True)
    assert resumed.start == 4 and resumed.best == 0.25 and resumed.elapsed >= 0
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(ValueError, match=r"different configuration \(keys \['lr'\]\)"):
        RunLog(tmp_path, dict(CFG, lr=1.0), fresh, fresh_opt, resume=True)


def test_checkpoints_from_before_the_one_loop_resume_with_their_best_score():
    """``best_val`` of old ``last`` checkpoints: a learner's best score; a learned optimizer's best loss (negated)."""
    assert best_score({"best_score": 0.5, "best_val": 9.0, "config": {}}) == 0.5
    assert best_score({"best_val": 0.8, "config": {"method": "protonet"}}) == 0.8
    assert best_score({"best_val": 0.3, "config": {"trainer": "l2o"}}) == -0.3


def test_resume_accepts_more_steps_and_options_added_at_their_preset_value():
    cfg = get_preset("omniglot-mann-5class")
    check_resumable(cfg, dict(cfg, steps=cfg["steps"] + 10), cfg["steps"])  # extend a finished run
    with pytest.raises(ValueError, match="already done 7 steps"):
        check_resumable(cfg, dict(cfg, steps=5), 7)
    older = {k: v for k, v in cfg.items() if k != "mann_erase"}  # saved before the option
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


def _trained_run(folder):
    """A run folder whose best checkpoint holds weights that differ from a fresh model's; returns that model."""
    trained, _ = _model_opt()
    with torch.no_grad():
        trained.weight.add_(1.0)
    folder.mkdir()
    save_checkpoint(folder / BEST, trained, {"config": CFG})
    return trained


def test_init_from_starts_with_a_trained_runs_weights_and_a_fresh_optimizer(tmp_path):
    trained = _trained_run(tmp_path / "a")
    model, opt = _model_opt()
    start = lambda source, m=model: RunLog(  # noqa: E731
        tmp_path / "b",
        dict(CFG, init_from=source),
        m,
        opt,
        resume=False,
        write=False,
    )
    assert start(str(tmp_path / "a")).start == 0  # a run folder: its best
    assert torch.equal(model.weight, trained.weight) and not opt.state
    with pytest.raises(FileNotFoundError, match="init_from='.*missing'"):
        start(str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="shape mismatch"):  # another architecture
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
    start = lambda m, source=str(tmp_path / "proto"): RunLog(  # noqa: E731
        tmp_path / "run",
        dict(CFG, encoder_from=source),
        m,
        opt,
        resume=False,
        write=False,
    )
    start(mann)
    for k, v in proto.encoder.state_dict().items():
        assert torch.equal(mann.encoder.state_dict()[k], v)
    assert all(torch.equal(mann.state_dict()[k], v) for k, v in before.items())  # the rest untouched
    with pytest.raises(CheckpointError, match="no encoder shaped like"):  # another width
        start(MANN(image_size=16, encoder="conv4", hidden=4, controller=8, slots=4, width=4, heads=1))
    with pytest.raises(ValueError, match="mann_encoder=conv4"):  # pixels: nothing to load
        start(MANN(image_size=16, controller=8, slots=4, width=4, heads=1))


# --- a run folder is owned; crash-safe logs; configs checked before any work; no leftovers -------------------


@pytest.mark.parametrize(
    "name", ["config.json", "metrics.jsonl", BEST, LAST, "results.json", "summary.txt", "benchmark.json"]
)
def test_prepare_out_refuses_any_run_file_and_says_how_to_proceed(tmp_path, name):
    (tmp_path / name).write_text("{}")
    with pytest.raises(FileExistsError) as e:
        prepare_out(tmp_path, resume=False)
    assert name in str(e.value) and all(w in str(e.value) for w in ("--resume", "--overwrite", "--out"))
    assert (tmp_path / name).read_text() == "{}"
    prepare_out(tmp_path, resume=True)
    assert (tmp_path / name).exists()


def test_prepare_out_overwrite_deletes_only_the_run_files(tmp_path):
    for name in ("config.json", "results.json", "benchmark.json", BEST, "notes.md"):
        (tmp_path / name).write_text("old")
    with pytest.raises(ValueError, match="pass only one"):
        prepare_out(tmp_path, resume=True, overwrite=True)
    assert (tmp_path / "results.json").exists()
    prepare_out(tmp_path, resume=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]
    prepare_out(tmp_path / "new", resume=False, overwrite=True)  # nothing there: fine


def test_a_calibration_goes_when_training_resumes_and_a_bad_one_is_refused(tmp_path):
    """calibration.json is fitted to the best checkpoint: resuming (which can replace that checkpoint) deletes it; a
    damaged or non-positive temperature is a clear error; no file is temperature 1 (no change)."""
    assert read_calibration(tmp_path) == 1.0
    (tmp_path / "calibration.json").write_text(json.dumps({"temperature": 1.7}))
    assert read_calibration(tmp_path) == 1.7
    with pytest.raises(FileExistsError, match="calibration.json"):
        prepare_out(tmp_path, resume=False)
    for bad, words in (({"temperature": -1}, "not a positive number"), ({"t": 2}, "not a calibration record")):
        (tmp_path / "calibration.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=words):
            read_calibration(tmp_path)
    prepare_out(tmp_path, resume=True)
    assert not (tmp_path / "calibration.json").exists()


def test_prepare_out_removes_temporaries_a_killed_write_left(tmp_path):
    prepare_out(tmp_path, resume=False)  # none there: no error
    stale = [tmp_path / ".last.safetensors.k3j_x9a2.tmp", tmp_path / ".metrics.jsonl.abc.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    (tmp_path / "keep.tmp").write_text("user file")
    (tmp_path / LAST).write_bytes(b"x")
    prepare_out(tmp_path, resume=True)
    assert not any(p.exists() for p in stale) and (tmp_path / "keep.tmp").exists() and (tmp_path / LAST).exists()


def test_atomic_write_gives_the_umask_default_mode(tmp_path):
    import os

    from fastadapt.io import atomic_write_bytes

    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
        os.umask(0o002)
        atomic_write_bytes(tmp_path / "b.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o664
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_torn_last_log_line_is_dropped_on_resume_with_a_warning(tmp_path, capsys):
    model, opt = _model_opt()
    run = RunLog(tmp_path, CFG, model, opt, resume=False)
    for step in (2, 4, 6):
        run.write(step, {"loss": 1.0}, 1e-2)
    run.checkpoint(8, model, opt)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"loss": 0.5, "st')  # killed mid-append
    resumed = RunLog(tmp_path, CFG, *_model_opt(), resume=True)
    assert resumed.start == 8
    err = capsys.readouterr().err
    assert "warning" in err and str(tmp_path / "metrics.jsonl") in err and "line 4" in err
    assert [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [2, 4, 6]
    truncate_log(tmp_path / "metrics.jsonl", 8)  # clean now: no warning
    assert capsys.readouterr().err == ""


def test_a_damaged_log_line_before_the_last_is_an_error_naming_file_and_line(tmp_path):
    from fastadapt.train.run_log import read_log

    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 2}\n{"step": 4, oops\n[4]\n{"step": 6}\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl, line 2: not a JSON object"):
        read_log(log)
    log.write_text('{"step": 2}\n[4]\n{"step": 6}\n')  # JSON, but not a record
    with pytest.raises(ValueError, match="line 2"):
        truncate_log(log, 6)


@pytest.mark.parametrize(
    "text, what",
    [('{"method": "protonet",', "not valid JSON"), ("[1, 2]", "expected an object"), (b"\xff\xfe{", "not valid JSON")],
)
def test_a_damaged_config_json_is_an_error_naming_the_file(tmp_path, text, what):
    from fastadapt.train.trainer import load_run

    path = tmp_path / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=what) as e:
        load_run(tmp_path)
    assert str(path) in str(e.value)


def _bad(**changes):
    return {**get_preset("omniglot-protonet-5w1s"), "device": "cpu", **changes}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lr_decay_every": 0}, "lr_decay_every must be a positive integer"),
        ({"eval_episodes": 2.5}, "eval_episodes must be a positive integer"),
        ({"val_episodes": -1}, "val_episodes must be a positive integer"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"lr": "fast"}, "lr must be a positive number"),
        ({"train_ways": 1}, "train_ways must be an integer >= 2"),
    ],
)
def test_check_config_refuses_values_that_cannot_train(changes, message):
    from fastadapt.train.trainer import check_config

    with pytest.raises(ValueError, match=message):
        check_config(_bad(**changes))


def test_check_config_accepts_every_preset_and_regression_has_no_train_ways():
    from fastadapt.presets import PRESETS
    from fastadapt.train.trainer import check_config

    for name in PRESETS:
        cfg = get_preset(name)
        if cfg.get("trainer") != "l2o":
            check_config(dict(cfg, device="cpu"))
    check_config(dict(get_preset("sinusoid-maml-5shot"), device="cpu", train_ways=1))


def test_cuda_device_is_refused_without_a_gpu(monkeypatch):
    from fastadapt.train.trainer import check_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:0' asks for a GPU.*device=cpu"):
        check_config(_bad(device="cuda:0"))


def test_a_bad_config_with_overwrite_leaves_the_old_run_untouched(tmp_path):
    from fastadapt.train.trainer import train

    for name in ("results.json", "summary.txt", BEST):
        (tmp_path / name).write_text("committed")
    with pytest.raises(ValueError, match="lr_decay_every"):
        train(_bad(lr_decay_every=0), tmp_path, overwrite=True, progress=False)
    assert all((tmp_path / n).read_text() == "committed" for n in ("results.json", "summary.txt", BEST))


def test_init_sources_are_checked_on_a_copy_before_the_run_folder_is_touched(tmp_path):
    from fastadapt.train.run_log import check_init_sources

    _trained_run(tmp_path / "a")
    model, _ = _model_opt()
    before = model.weight.clone()
    check_init_sources(dict(CFG, init_from=str(tmp_path / "a")), model)  # loads fine, into a copy
    assert torch.equal(model.weight, before)
    with pytest.raises(FileNotFoundError, match="init_from='.*missing'"):
        check_init_sources(dict(CFG, init_from=str(tmp_path / "missing")), model)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        check_init_sources(dict(CFG, init_from=str(tmp_path / "a")), torch.nn.Linear(3, 4))


def test_a_benchmark_record_sits_beside_the_trainers_results_and_old_runs_still_read(tmp_path):
    from fastadapt.train.run_log import read_benchmark_record, write_benchmark_record

    (tmp_path / "results.json").write_text('{"accuracy": 0.5}')
    assert read_benchmark_record(tmp_path) == {"accuracy": 0.5}  # a run made before benchmark.json: its results
    path = write_benchmark_record(tmp_path, {"test": {"accuracy": 0.6}, "command": "python benchmarks/x.py"})
    assert path.name == "benchmark.json" and read_benchmark_record(tmp_path)["test"] == {"accuracy": 0.6}
    assert (tmp_path / "results.json").read_text() == '{"accuracy": 0.5}'  # the trainer's file is left alone
    with pytest.raises(FileNotFoundError, match="holds no finished run"):
        read_benchmark_record(tmp_path / "none")


def test_machine_names_the_cpu_and_whether_it_has_amx(monkeypatch):
    """Records say which CPU timed them and whether bf16 ran on AMX: hosts of one name differ (issue #33)."""
    import fastadapt.nn.episodic as episodic

    for amx, said in ((True, "(AMX)"), (False, "(no AMX)")):
        monkeypatch.setattr(episodic, "cpu_has_amx", lambda amx=amx: amx)
        text = run_log.machine()
        assert said in text and f"torch {torch.__version__}" in text
    monkeypatch.setattr(run_log.Path, "read_text", lambda self: "processor\t: 0\nmodel name\t: Test CPU @ 1GHz\n")
    assert run_log.cpu_model() == "Test CPU @ 1GHz"
