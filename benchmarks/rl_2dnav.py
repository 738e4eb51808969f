"""Benchmark: meta-RL on 2D navigation (Finn, Abbeel & Levine 2017, section 5.3 and Fig. 5).

Trains the presets rl-2dnav-maml, rl-2dnav-rl2 and Finn's baselines (rl-2dnav-pretrained, rl-2dnav-random,
rl-2dnav-oracle) into results/<preset>/ with the one trainer, and writes results/rl_2dnav.json:

- per run: the average return on 200 held-out tasks before adaptation and after 1, 2, 3 policy-gradient steps
  (RL^2: episodes 1-3 of a trial), each with a 95% interval over tasks, training time and steps;
- the fine-tuned baselines (pretrained, random) also at the test-time step size that does best on validation
  tasks among ``--baseline-lrs`` (Finn tuned the baselines' step sizes; the presets' 0.1 / 0.05 is MAML's);
- speed: environment steps per second of the batched 2D navigation environments (alone, and in rollouts of the
  100-100 policy) against a single gymnasium environment stepped in a loop, and the share of a meta-iteration's
  wall time spent simulating (rollouts) for MAML and RL^2;
- Finn's Fig. 5 values for MAML on this task, read approximately off the figure.

A full run takes about an hour on 2 CPU cores (four trainings of 9-18 minutes; the random baseline only evaluates); an
interrupted run resumes each training with ``--resume`` semantics when started again. ``--smoke`` runs the whole
pipeline at a toy scale in a minute or two (into /tmp unless --results is given):

    python benchmarks/rl_2dnav.py                      # writes results/rl-2dnav-*/ and results/rl_2dnav.json
    python benchmarks/rl_2dnav.py --smoke              # a few steps of everything, /tmp/rl_2dnav_smoke/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from fastadapt.presets import apply_overrides, get_preset
from fastadapt.rl.evaluate import collect_returns, evaluate_rl
from fastadapt.rl.plots import navigation_paths, returns_by_stage
from fastadapt.rl.policies import MLPPolicy
from fastadapt.rl.rollout import MLPActor, rollout
from fastadapt.tasks import build_sampler
from fastadapt.tasks.rl_envs import PointNav, RLTaskSampler, family_from_config, gym_env
from fastadapt.train.backward import meta_backward
from fastadapt.train.run_log import BEST, LAST, provenance
from fastadapt.train.trainer import git_commit, load_run, machine, train

PRESETS = ["rl-2dnav-maml", "rl-2dnav-rl2", "rl-2dnav-pretrained", "rl-2dnav-random", "rl-2dnav-oracle"]
FINE_TUNED = ("rl-2dnav-pretrained", "rl-2dnav-random")
# Finn et al. 2017, Fig. 5 (left), MAML on 2D navigation: read off the plot, not printed in the paper's text.
FINN_FIG5 = {
    "source": "Finn, Abbeel & Levine 2017, Fig. 5 (2D navigation), read approximately off the figure",
    "maml": {
        "0 steps": "about -40",
        "1 step": "about -10 to -15",
        "2 steps": "about the same as 1 step or slightly better",
        "3 steps": "about the same as 1 step or slightly better",
    },
    "baselines": "pretrained stays far below MAML after 1-3 steps, random lower still; the oracle is an "
    "upper bound close to MAML after adaptation (qualitative; values uncertain)",
}
SMOKE = [
    "steps=10",
    "meta_batch=4",
    "shots=5",
    "train_shots=5",
    "queries=5",
    "train_queries=5",
    "log_every=5",
    "ckpt_every=10",
    "val_every=10",
    "val_episodes=4",
    "eval_episodes=8",
    "outer_epochs=5",
]
SMOKE_RL2 = [
    "steps=8",
    "meta_batch=4",
    "shots=3",
    "train_shots=3",
    "log_every=4",
    "ckpt_every=8",
    "val_every=8",
    "val_episodes=4",
    "eval_episodes=8",
    "outer_epochs=4",
]


def config(name: str, smoke: bool, seed: int, sets: list[str] | None = None) -> dict[str, Any]:
    """The preset ``name`` with the smoke test's settings (``smoke``), then ``sets`` (``key=value``) and the seed."""
    sets = ((SMOKE_RL2 if name.endswith("rl2") else SMOKE) if smoke else []) + list(sets or [])
    cfg = apply_overrides(get_preset(name), sets + [f"seed={seed}"])
    if get_preset(name)["steps"] == 0:  # an untrained baseline stays untrained
        cfg["steps"] = 0
    return cfg


def run_preset(name: str, out: Path, smoke: bool, seed: int, sets: list[str] | None = None) -> dict[str, Any]:
    cfg = config(name, smoke, seed, sets)
    resume = (out / LAST).exists() and not (out / "results.json").exists()
    if (out / "results.json").exists() and not smoke:
        res = json.loads((out / "results.json").read_text())  # already trained: keep it
    else:
        res = train(cfg, out, resume=resume, overwrite=not resume, progress=False)
    return {
        k: res[k]
        for k in (
            "returns",
            "returns_ci95",
            "stages",
            "score",
            "ci95",
            "score_stage",
            "tasks",
            "shots",
            "train_seconds",
            "train_steps",
        )
    }


def tuned_fine_tuning(out: Path, lrs: list[float], val_tasks: int) -> dict[str, Any]:
    """The baseline's test returns at the constant test-time step size that maximizes the mean return after 1-3
    steps on validation tasks. Kept in ``<out>/tuned_fine_tuning.json`` and re-read while the run's checkpoint, the
    step sizes and the number of validation tasks are unchanged, so a summary re-run does not repeat it."""
    cache = out / "tuned_fine_tuning.json"
    checkpoint = hashlib.sha256((out / BEST).read_bytes()).hexdigest()
    key = {"lrs": lrs, "val_tasks": val_tasks, "checkpoint_sha256": checkpoint}
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if cached.get("key") == key:
        return cached["result"]
    start = time.time()
    learner, cfg = load_run(out)
    val = build_sampler(cfg, "val", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
    scores = {}
    for lr in lrs:
        learner.inner_lr = learner.later_inner_lr = lr
        returns, _ = collect_returns(learner, val, val_tasks)
        scores[lr] = float(returns[:, 1:].mean())
    best = max(scores, key=scores.get)
    learner.inner_lr = learner.later_inner_lr = best
    test = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
    res = evaluate_rl(learner, test, cfg["eval_episodes"])
    result = {
        "lr": best,
        "val_scores": scores,
        "returns": res["returns"],
        "returns_ci95": res["returns_ci95"],
        "stages": res["stages"],
    }
    cache.write_text(json.dumps({"key": key, "result": result, **provenance(start)}, indent=1))
    return result


def env_speed(tasks: int, envs: int, repeats: int) -> dict[str, float]:
    """Environment steps per second: batched environments alone, batched rollouts of the 100-100 policy, and one
    gymnasium environment in a Python loop."""
    fam = PointNav()
    batch = RLTaskSampler(fam, envs, envs, seed=0, part="test").tasks(0, tasks)
    env = batch.env(envs)
    actions = 0.1 * torch.randn(fam.horizon, tasks, envs, 2)
    start = time.perf_counter()
    for _ in range(repeats):
        env.reset()
        for t in range(fam.horizon):
            env.step(actions[t])
    alone = repeats * fam.horizon * tasks * envs / (time.perf_counter() - start)
    torch.manual_seed(0)
    pol = MLPPolicy(2, 2, (100, 100))
    start = time.perf_counter()
    for r in range(repeats):
        rollout(batch.env(envs), MLPActor(pol, pol.params()), r, False, 2)
    with_policy = repeats * fam.horizon * tasks * envs / (time.perf_counter() - start)
    single = gym_env(fam, batch.params[0].numpy(), int(batch.seeds[0]))
    acts = actions[:, 0, 0].numpy()
    n = max(1, repeats) * 10
    start = time.perf_counter()
    for _ in range(n):
        single.reset()
        for t in range(fam.horizon):
            single.step(acts[t])
    one = n * fam.horizon / (time.perf_counter() - start)
    return {
        "tasks": tasks,
        "envs_per_task": envs,
        "batched_env_steps_per_s": alone,
        "batched_rollout_steps_per_s": with_policy,
        "single_gym_env_steps_per_s": one,
    }


def simulation_share(
    name: str, smoke: bool, seed: int, iterations: int, sets: list[str] | None = None
) -> dict[str, float]:
    """Wall time of ``iterations`` meta-iterations (collection + ``outer_epochs`` Adam steps each) and the share
    of it spent in rollouts (the learner's ``sim_seconds``)."""
    from fastadapt.configs import build_learner

    cfg = config(name, smoke, seed, sets)
    torch.manual_seed(seed)
    learner = build_learner(cfg)
    sampler = build_sampler(cfg, "train", None, cfg["train_shots"], cfg["train_queries"], seed)
    opt = torch.optim.Adam(learner.parameters(), lr=cfg["lr"])
    sim, start = 0.0, time.perf_counter()
    for step in range(iterations * cfg["outer_epochs"]):
        opt.zero_grad()
        metrics = meta_backward(learner, sampler.batch(step, cfg["meta_batch"]))
        opt.step()
        sim += metrics["sim_seconds"]
    wall = time.perf_counter() - start
    return {
        "meta_iterations": iterations,
        "seconds_per_meta_iteration": wall / iterations,
        "simulation_share": sim / wall,
        "env_steps_per_meta_iteration": env_steps(cfg),
    }


def env_steps(cfg: dict[str, Any]) -> int:
    horizon = family_from_config(cfg).horizon
    if cfg["method"] == "rl2":
        return cfg["meta_batch"] * cfg["train_shots"] * cfg["rl2_episodes"] * horizon
    return cfg["meta_batch"] * horizon * (cfg["train_shots"] * cfg["inner_steps"] + cfg["train_queries"])


def plots(root: Path, summary: dict[str, Any]) -> list[Path]:
    """``rl_2dnav_returns.png`` (return against adaptation stage, every run; the fine-tuned baselines also at their
    tuned step size) and ``rl_2dnav_paths.png`` (MAML's paths on four test goals before and after 3 steps)."""
    runs = {name.removeprefix("rl-2dnav-"): run for name, run in summary["runs"].items()}
    out = [root / "rl_2dnav_returns.png", root / "rl_2dnav_paths.png"]
    returns_by_stage(runs, out[0], "2D navigation: 200 held-out goals (95% intervals)")
    learner, cfg = load_run(root / "rl-2dnav-maml")
    test = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
    navigation_paths(learner, test.tasks(0, 4), out[1], steps=3, rollouts=cfg["shots"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="toy scale: every stage in a minute or two")
    p.add_argument("--results", default=None, help="folder of the run folders (default results/, smoke: /tmp/...)")
    p.add_argument("--out", default=None, help="the JSON summary (default <results>/rl_2dnav.json)")
    p.add_argument("--only", nargs="+", choices=PRESETS, default=PRESETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline-lrs", default="0.02,0.05,0.1,0.2,0.5,1.0")
    p.add_argument("--plots", action="store_true", help="only redraw the plots from an earlier run's JSON")
    a = p.parse_args()
    root = Path(a.results or ("/tmp/rl_2dnav_smoke" if a.smoke else "results"))
    out_json = Path(a.out) if a.out else root / "rl_2dnav.json"
    if a.plots:
        print("wrote", *plots(root, json.loads(out_json.read_text())))
        return
    summary: dict[str, Any] = {
        "benchmark": "benchmarks/rl_2dnav.py" + (" --smoke" if a.smoke else ""),
        "commit": git_commit(),
        "machine": machine(),
        "paper": FINN_FIG5,
        "runs": {},
    }
    t0 = time.time()
    for name in a.only:
        run = run_preset(name, root / name, a.smoke, a.seed)
        if name in FINE_TUNED:
            lrs = [float(x) for x in a.baseline_lrs.split(",")]
            run["tuned_step_size"] = tuned_fine_tuning(root / name, lrs, 4 if a.smoke else 40)
        summary["runs"][name] = run
        print(
            f"{name}: "
            + "; ".join(
                f"{s} {m:.2f} +- {c:.2f}" for s, m, c in zip(run["stages"], run["returns"], run["returns_ci95"])
            ),
            flush=True,
        )
    sizes = [(4, 5)] if a.smoke else [(20, 20), (100, 20)]
    summary["speed"] = {
        "env": [env_speed(b, n, 1 if a.smoke else 5) for b, n in sizes],
        "meta_iteration": {
            name: simulation_share(name, a.smoke, a.seed, 1 if a.smoke else 3)
            for name in ("rl-2dnav-maml", "rl-2dnav-rl2")
        },
    }
    summary["seconds"] = time.time() - t0
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(summary, indent=1))
    for s in summary["speed"]["env"]:
        print(
            f"{s['tasks']} tasks x {s['envs_per_task']} envs: batched env {s['batched_env_steps_per_s']:,.0f} "
            f"steps/s, batched rollout with the policy {s['batched_rollout_steps_per_s']:,.0f} steps/s, one "
            f"gymnasium env {s['single_gym_env_steps_per_s']:,.0f} steps/s"
        )
    for name, s in summary["speed"]["meta_iteration"].items():
        print(
            f"{name}: {s['seconds_per_meta_iteration']:.2f} s per meta-iteration, simulation "
            f"{100 * s['simulation_share']:.0f}% ({s['env_steps_per_meta_iteration']:,} env steps)"
        )
    print(f"wrote {out_json}", *(plots(root, summary) if set(a.only) == set(PRESETS) else []))


if __name__ == "__main__":
    main()
