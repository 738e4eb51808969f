"""Meta-RL through the one trainer: MAML-RL improves the adapted policy on bandits within seconds, a stopped run
resumes to exactly the numbers of an uninterrupted one, `fastadapt eval` reports returns per adaptation stage, and
the presets and learners refuse what cannot work."""

import json

import pytest
import torch
from safetensors.torch import load_file

from fastadapt.cli import main
from fastadapt.configs import build_learner
from fastadapt.learners.rl2 import RL2
from fastadapt.presets import PRESETS, apply_overrides, get_preset
from fastadapt.rl.evaluate import collect_returns
from fastadapt.tasks import build_sampler
from fastadapt.train.trainer import check_config, load_run, train

RL_PRESETS = sorted(n for n in PRESETS if n.startswith("rl-"))


def cfg_of(preset, *sets):
    return apply_overrides(get_preset(preset), ["device=cpu", *sets])


def paired_z(x):
    return float(x.mean() / (x.std() / len(x) ** 0.5))


def test_maml_rl_adapted_policy_improves_on_bandits(tmp_path):
    cfg = cfg_of("rl-bandit-maml", "steps=60", "val_every=60", "val_episodes=20", "eval_episodes=20")
    train(cfg, tmp_path / "run", progress=False)
    trained, cfg = load_run(tmp_path / "run")
    torch.manual_seed(cfg["seed"])
    untrained = build_learner(cfg)
    tasks = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
    after, _ = collect_returns(trained, tasks, 200)  # [tasks, 0..3 steps]
    before, _ = collect_returns(untrained, tasks, 200)
    assert paired_z(after[:, 1] - after[:, 0]) > 3  # one policy-gradient step helps
    assert paired_z(after[:, 1] - before[:, 1]) > 3  # and more so from the meta-learned start
    assert after[:, 3].mean() > after[:, 1].mean()


def comparable(run):
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    drop = ("time", "sim_seconds")
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


@pytest.mark.parametrize("preset", ["rl-bandit-maml", "rl-bandit-rl2"])
def test_resume_after_a_stop_equals_an_uninterrupted_run(tmp_path, preset):
    sets = ["outer_epochs=2", "log_every=2", "ckpt_every=8", "val_every=4", "val_episodes=6", "eval_episodes=10"]
    stopped = tmp_path / "stopped"
    train(cfg_of(preset, "steps=8", *sets), stopped, progress=False)  # "killed" after 8 steps
    res_resumed = train(cfg_of(preset, "steps=16", *sets), stopped, resume=True, progress=False)
    res_whole = train(cfg_of(preset, "steps=16", *sets), tmp_path / "whole", progress=False)
    assert comparable(stopped) == comparable(tmp_path / "whole")
    a, b = load_file(str(stopped / "last.safetensors")), load_file(str(tmp_path / "whole" / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert res_resumed["returns"] == res_whole["returns"] and len(res_whole["returns"]) >= 4


def test_fastadapt_eval_reports_returns_per_stage(tmp_path, capsys):
    out = tmp_path / "random"
    assert (
        main(
            [
                "train",
                "--preset",
                "rl-bandit-maml",
                "--out",
                str(out),
                "--set",
                "steps=0",
                "--set",
                "eval_episodes=8",
                "--set",
                "device=cpu",
            ]
        )
        == 0
    )
    assert "0 steps" in capsys.readouterr().out
    assert main(["eval", str(out), "--episodes", "6", "--shots", "5", "--json", "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["stages"] == ["0 steps", "1 step", "2 steps", "3 steps"] and res["tasks"] == 6 and res["shots"] == 5
    assert len(res["returns_ci95"]) == 4 and all(0 <= r <= 1 for r in res["returns"])


@pytest.mark.parametrize("preset", ["rl-2dnav-maml", "rl-2dnav-rl2", "rl-2dnav-oracle"])
def test_2dnav_presets_train_a_few_steps(tmp_path, preset):
    sets = [
        "steps=4",
        "outer_epochs=2",
        "log_every=2",
        "ckpt_every=2",
        "val_every=4",
        "meta_batch=2",
        "shots=2",
        "train_shots=2",
        "queries=2",
        "train_queries=2",
        "horizon=8",
        "val_episodes=3",
        "eval_episodes=3",
        "hidden=8",
    ]
    res = train(cfg_of(preset, *sets), tmp_path / "run", progress=False)
    assert all(-8 * 1.5 < r < 0 for r in res["returns"])  # at most 8 steps of distance < 1.5
    assert "held-out tasks" in (tmp_path / "run" / "summary.txt").read_text()


def test_rl_presets_are_valid_configurations():
    for name in RL_PRESETS:
        cfg = cfg_of(name)
        check_config(cfg)
        build_learner(cfg)  # (HalfCheetah needs MuJoCo only to step)
        build_sampler(cfg, "train", None, cfg["train_shots"], cfg["train_queries"], 0)
    with pytest.raises(ValueError, match="ckpt_every .* multiple of outer_epochs"):
        build_sampler(cfg_of("rl-2dnav-maml", "ckpt_every=102"), "train", None, 20, 20, 0)
    with pytest.raises(ValueError, match="inner_lr"):
        build_learner(cfg_of("rl-2dnav-maml", "inner_lr=-1"))
    with pytest.raises(ValueError, match="clip_eps"):
        build_learner(cfg_of("rl-2dnav-rl2", "clip_eps=0"))


def test_rl2_adapt_carries_the_hidden_state_and_matches_its_rollouts():
    """The recurrence over recorded trials reproduces the log-probabilities the rollout acted with, and adapting on
    the first episodes then rolling out one more equals a trial rolled out in one go."""
    cfg = cfg_of("rl-bandit-rl2", "hidden=16")
    torch.manual_seed(0)
    learner = build_learner(cfg).double()
    assert isinstance(learner, RL2)
    batch = build_sampler(cfg, "test", None, 4, 4, 0).tasks(0, 3)
    traj = learner.rollout(batch, 0, 4)
    dist, _, _ = learner.forward_trials(traj)
    assert torch.allclose(dist.log_prob(traj.actions), traj.logp, atol=1e-10)
    first = learner.rollout(batch, 0, 4, episodes=4)
    assert torch.equal(first.actions, traj.actions[:, :, :4])  # the same noise for the same steps
    policy = learner.adapt(first)
    assert policy.hidden.shape == (1, 12, 16)
    rest = policy.rollout(batch, episodes=6, stream=0)  # continues the trials: episodes 5-10
    assert torch.equal(rest.actions, traj.actions[:, :, 4:]) and torch.equal(rest.rewards, traj.rewards[:, :, 4:])
    assert torch.allclose(rest.logp, traj.logp[:, :, 4:], atol=1e-10)


def test_rl2_reads_the_previous_reward_at_its_own_input_scale():
    """The GRU's reward input is scaled apart from the value targets (2D navigation's step-to-step reward changes
    are hundredths: at the value scale the GRU did not use them)."""
    learner = RL2(2, 2, False, hidden=8, reward_scale=0.1, reward_input_scale=10.0)
    extra = learner.extra_inputs(torch.zeros(1, 1, 2), torch.tensor([[-0.3]]), torch.tensor([[False]]))
    assert extra[0, 0].tolist() == pytest.approx([0.0, 0.0, -3.0, 0.0])
    assert RL2(2, 2, False, hidden=8, reward_scale=0.1).reward_input_scale == 0.1  # default: the value scale
    assert get_preset("rl-2dnav-rl2")["reward_input_scale"] == 10.0
    with pytest.raises(ValueError, match="reward_input_scale must be a positive number"):
        RL2(2, 2, False, reward_input_scale=-1.0)
