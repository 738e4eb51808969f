import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from fastadapt.presets import apply_overrides, get_preset
from fastadapt.train import trainer
from fastadapt.train.loop import progress_line

TINY = [
    "train_ways=5",
    "steps=30",
    "log_every=5",
    "ckpt_every=5",
    "val_every=10",
    "val_episodes=10",
    "eval_episodes=20",
    "device=cpu",
]


def tiny_cfg(data_root, extra=()):
    cfg = apply_overrides(get_preset("omniglot-protonet-5w1s"), TINY + list(extra))
    cfg["data_root"] = str(data_root)
    return cfg


def cli(args, data_root, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", FASTADAPT_DATA=str(data_root))
    return subprocess.Popen(
        [sys.executable, "-m", "fastadapt", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def comparable(run):
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    res = json.loads((run / "results.json").read_text())
    return [{k: v for k, v in r.items() if k != "time"} for r in rows], (res["accuracy"], res["nll"])


def train_args(out):
    return ["train", "--preset", "omniglot-protonet-5w1s", "--out", str(out)] + [a for s in TINY for a in ("--set", s)]


def test_resume_after_sigkill_matches_uninterrupted(tmp_path, data_root):
    ref = tmp_path / "ref"
    p = cli(train_args(ref), data_root)
    assert p.wait(timeout=300) == 0, p.stderr.read()
    expected = comparable(ref)
    rng = random.Random(0)
    for trial in range(3):
        out = tmp_path / f"killed{trial}"
        p = cli(train_args(out), data_root)
        deadline = time.time() + 120
        while not (out / "last.safetensors").exists() and p.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 1.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = cli(train_args(out) + ["--resume"], data_root)
        assert r.wait(timeout=300) == 0, r.stderr.read()
        assert comparable(out) == expected


def test_same_seed_same_numbers_and_seed_matters(tmp_path, data_root):
    a = trainer.train(tiny_cfg(data_root, ["steps=10", "val_every=5"]), tmp_path / "a", progress=False)
    b = trainer.train(tiny_cfg(data_root, ["steps=10", "val_every=5"]), tmp_path / "b", progress=False)
    trainer.train(tiny_cfg(data_root, ["steps=10", "val_every=5", "seed=1"]), tmp_path / "c", progress=False)
    assert comparable(tmp_path / "a") == comparable(tmp_path / "b")
    assert comparable(tmp_path / "a")[0] != comparable(tmp_path / "c")[0]
    for f in (
        "config.json",
        "metrics.jsonl",
        "best.safetensors",
        "last.safetensors",
        "results.json",
        "summary.txt",
        "learning_curve.png",
    ):
        assert (tmp_path / "a" / f).exists(), f
    assert a["commit"] and a["machine"] and a["accuracy"] == b["accuracy"]


def test_divergence_stops_with_step_and_keeps_checkpoint(tmp_path, data_root, monkeypatch):
    from fastadapt.learners.protonet import ProtoNet

    real = ProtoNet.meta_loss
    calls = {"n": 0}

    def poisoned(self, batch):
        calls["n"] += 1
        loss, m = real(self, batch)
        if calls["n"] == 8:
            return loss * float("nan"), {**m, "loss": float("nan")}
        return loss, m

    monkeypatch.setattr(ProtoNet, "meta_loss", poisoned)
    with pytest.raises(trainer.TrainingDiverged, match="at step 8"):
        trainer.train(tiny_cfg(data_root), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "last.safetensors").exists()


def test_existing_run_needs_resume_and_config_must_match(tmp_path, data_root):
    cfg = tiny_cfg(data_root, ["steps=5"])
    trainer.train(cfg, tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        trainer.train(cfg, tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        trainer.train({**cfg, "lr": 0.5}, tmp_path / "r", resume=True, progress=False)


def test_resume_with_more_steps_extends_a_finished_run_exactly(tmp_path, data_root):
    cfg = tiny_cfg(data_root, ["steps=10", "val_every=5"])
    trainer.train({**cfg, "steps": 5}, tmp_path / "ext", progress=False)
    trainer.train(cfg, tmp_path / "ext", resume=True, progress=False)  # 5 more steps
    trainer.train(cfg, tmp_path / "ref", progress=False)
    assert comparable(tmp_path / "ext") == comparable(tmp_path / "ref")
    with pytest.raises(ValueError, match="already done 10 steps"):
        trainer.train({**cfg, "steps": 5}, tmp_path / "ext", resume=True, progress=False)


def test_bad_config_values(tmp_path, data_root):
    with pytest.raises(ValueError, match="multiple of log_every"):
        trainer.train(tiny_cfg(data_root, ["ckpt_every=7"]), tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        trainer.train(tiny_cfg(data_root, ["steps=-1"]), tmp_path / "y", progress=False)


def test_zero_steps_saves_and_tests_the_initial_model(tmp_path, data_root):
    """steps=0 (a pretrained backbone with a parameter-free head, say): the initial model becomes the run's best
    checkpoint and is tested like a trained one; `load_run` gives back the same weights."""
    res = trainer.train(tiny_cfg(data_root, ["steps=0"]), tmp_path / "z", progress=False)
    assert res["train_steps"] == 0 and 0.0 < res["accuracy"] <= 1.0
    learner, cfg = trainer.load_run(tmp_path / "z")
    torch.manual_seed(cfg["seed"])
    fresh = trainer.build_learner(cfg)
    assert all(torch.equal(a, b) for a, b in zip(learner.state_dict().values(), fresh.state_dict().values()))
    assert (tmp_path / "z" / "summary.txt").exists() and not (tmp_path / "z" / "metrics.jsonl").exists()


def test_read_only_output_folder(tmp_path, data_root):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            trainer.train(tiny_cfg(data_root), ro, progress=False)
    finally:
        ro.chmod(0o700)


def test_time_limit_stops_after_a_validation_and_checkpoint(tmp_path, data_root):
    from fastadapt.checkpoint import read_checkpoint

    res = trainer.train(tiny_cfg(data_root, ["max_train_seconds=1e-9"]), tmp_path / "run", progress=False)
    rows = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert res["train_steps"] == 1 and [r["step"] for r in rows] == [1]  # stopped at once, of 30 steps
    assert "val_acc" in rows[0] and (tmp_path / "run" / "best.safetensors").exists()
    assert (
        read_checkpoint(tmp_path / "run" / "last.safetensors")[1]["meta"]["step"] == 1
    )  # --resume continues from here


def test_param_group_lr_scale_is_applied_at_every_step(tmp_path, data_root):
    from fastadapt.checkpoint import read_checkpoint

    cfg = apply_overrides(
        get_preset("omniglot-lstm-5w1s"),
        TINY + ["steps=6", "lstm_lr_scale=0.25", "lr_decay_every=4", "meta_batch=1", "train_queries=2"],
    )
    cfg["data_root"] = str(data_root)
    trainer.train(cfg, tmp_path / "run", progress=False)
    groups = read_checkpoint(tmp_path / "run" / "last.safetensors")[1]["optimizer"]["param_groups"]
    decayed = cfg["lr"] * 0.5  # step 6: decayed once
    assert [g["lr"] for g in groups] == pytest.approx([decayed, decayed * 0.25])


def test_cli_refuses_a_committed_run_folder_unless_overwrite(tmp_path, data_root, capsys):
    from fastadapt.cli import main

    out = tmp_path / "committed"  # results kept, checkpoints not
    out.mkdir()
    for name in ("results.json", "summary.txt"):
        (out / name).write_text("committed")
    args = train_args(out) + ["--set", "steps=5", "--data-root", str(data_root)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "results.json, summary.txt" in err and "--overwrite" in err and "Traceback" not in err
    assert main(args + ["--overwrite", "--set", "lr_decay_every=0"]) == 2  # checked before deleting
    assert "lr_decay_every must be" in capsys.readouterr().err and (out / "summary.txt").read_text() == "committed"
    with pytest.raises(SystemExit):
        main(args + ["--overwrite", "--resume"])
    assert main(args + ["--overwrite"]) == 0
    assert json.loads((out / "results.json").read_text())["train_steps"] == 5


def test_without_a_terminal_each_validation_prints_one_progress_line(tmp_path, data_root, capsys):
    """A run in a log file or CI (no terminal: the progress bar turns itself off) still says how it goes."""
    trainer.train(tiny_cfg(data_root, ["steps=20"]), tmp_path / "run")  # progress=None: stdout is no tty
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("step ")]
    assert [ln.split(":")[0] for ln in lines] == ["step 10/20", "step 20/20"]
    assert "validation" in lines[0] and "min left" in lines[0]
    line = progress_line(50, 100, {"loss": 1.0, "val_score": 0.5, "val_ci95": 0.1}, 600.0, limit=660.0)
    assert line.endswith("10.0 min, ~1 min left")  # the time limit comes first


def test_zero_steps_with_init_from_tests_those_weights(tmp_path, data_root):
    trainer.train(tiny_cfg(data_root, ["steps=10", "val_every=5"]), tmp_path / "a", progress=False)
    trainer.train(tiny_cfg(data_root, ["steps=0", f"init_from={tmp_path / 'a'}"]), tmp_path / "b", progress=False)
    a, _ = trainer.load_run(tmp_path / "a")
    b, _ = trainer.load_run(tmp_path / "b")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_resume_is_exact_for_a_learner_that_draws_from_the_global_generator(tmp_path):
    """The in-context learner rotates its inputs and drops units with torch's global generator; the trainer seeds
    it per step, so a run stopped and resumed draws exactly what an uninterrupted one does."""
    from safetensors.torch import load_file

    sets = ["icl_dim=16", "icl_layers=1", "icl_heads=2", "icl_dropout=0.2", "icl_rotate=true", "meta_batch=4"]
    sets += ["log_every=2", "ckpt_every=4", "val_every=4", "val_episodes=4", "eval_episodes=4", "device=cpu"]
    cfg = apply_overrides(get_preset("icl-linreg"), sets)
    trainer.train({**cfg, "steps": 4}, tmp_path / "stopped", progress=False)
    trainer.train({**cfg, "steps": 8}, tmp_path / "stopped", resume=True, progress=False)
    trainer.train({**cfg, "steps": 8}, tmp_path / "whole", progress=False)
    a = load_file(str(tmp_path / "stopped" / "last.safetensors"))
    b = load_file(str(tmp_path / "whole" / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_precision_auto_picks_bf16_only_where_the_hardware_runs_it_fast(tmp_path, data_root, monkeypatch):
    """``precision=auto`` becomes bf16 on a CPU with AMX for a learner that offers bf16, else fp32, and the run's
    config says which was used and that it was picked."""
    import fastadapt.nn.episodic as episodic

    cpu = torch.device("cpu")
    monkeypatch.setattr(episodic, "cpu_has_amx", lambda: True)
    proto = trainer.with_precision(tiny_cfg(data_root, ["precision=auto"]), cpu)
    assert (proto["precision"], proto["precision_requested"]) == ("bf16", "auto")
    cnp = apply_overrides(get_preset("gp-cnp"), ["precision=auto"])  # a learner that offers fp32 only
    assert trainer.with_precision(cnp, cpu)["precision"] == "fp32"
    assert trainer.with_precision(tiny_cfg(data_root, ["precision=fp32"]), cpu)["precision"] == "fp32"  # as asked
    monkeypatch.setattr(episodic, "cpu_has_amx", lambda: False)
    trainer.train(tiny_cfg(data_root, ["precision=auto", "steps=2", "val_every=2"]), tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["precision"], saved["precision_requested"]) == ("fp32", "auto")
    learner, _ = trainer.load_run(tmp_path / "run")
    assert learner.precision == "fp32"
    monkeypatch.setattr(episodic, "cpu_has_amx", lambda: True)  # resumed on a machine with AMX: keeps fp32
    resumed = trainer.with_precision(tiny_cfg(data_root, ["precision=auto"]), cpu, tmp_path / "run" / "config.json")
    assert resumed["precision"] == "fp32"
