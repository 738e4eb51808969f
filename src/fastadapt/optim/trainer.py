"""Meta-training of a learned optimizer (Andrychowicz 2016): each meta-iteration draws ``meta_batch``
training problems, optimizes them with the rule for ``horizon`` steps in truncated windows of ``unroll``
steps, and after every window takes an Adam step on the rule's weights from the summed optimizee losses.
Validation (mean loss over the horizon on ``val`` problems) selects ``best.safetensors``; ``last`` holds
rule, meta-optimizer and counters so ``--resume`` continues exactly (problem i depends only on (seed, i)).
At the end (and on `fastadapt eval RUN`) `evaluate_run` compares against tuned baselines."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..cpu_memory import reuse_freed_memory
from ..io import atomic_write_bytes
from ..presets.limits import check_limits
from ..train.checkpoint import save_checkpoint
from ..train.distributed import World, average_gradients, average_metrics, close_world, init_world, share
from ..train.plots import learning_curve
from ..train.run_log import BEST, LAST, RunLog, prepare_out
from ..train.trainer import TrainingDiverged, git_commit, machine
from .baselines import DEFAULT_GRID, tune
from .evaluate import band, compare, plot_curves
from .learned import load_rule
from .problems import build_family
from .rules import UpdateRule, build_rule
from .unroll import rollout, truncated_unrolls


def check_l2o_config(cfg: dict[str, Any]) -> None:
    for key in (
        "steps",
        "log_every",
        "ckpt_every",
        "val_every",
        "meta_batch",
        "unroll",
        "horizon",
        "horizon_mult",
        "val_problems",
        "eval_problems",
        "tune_problems",
    ):
        if not isinstance(cfg.get(key), int) or cfg[key] <= 0:
            raise ValueError(f"{key} must be a positive integer, got {cfg.get(key)!r}.")
    if cfg["ckpt_every"] % cfg["log_every"]:
        raise ValueError(f"ckpt_every ({cfg['ckpt_every']}) must be a multiple of log_every ({cfg['log_every']}).")
    if cfg["unroll"] > cfg["horizon"]:
        raise ValueError(
            f"unroll ({cfg['unroll']}) is longer than the horizon ({cfg['horizon']}); set unroll <= horizon."
        )
    check_limits(cfg)
    grid(cfg)


def grid(cfg: dict[str, Any]) -> tuple[float, ...]:
    raw = cfg.get("lr_grid", "")
    if not raw:
        return DEFAULT_GRID
    try:
        return tuple(float(x) for x in str(raw).split(","))
    except ValueError:
        raise ValueError(f"lr_grid must be comma-separated numbers like '1e-3,1e-2,1e-1', got {raw!r}.") from None


def validate(rule: UpdateRule, family: Any, n: int, horizon: int) -> tuple[float, float]:
    """Mean (and 95% CI) over ``n`` problems of the mean loss along the horizon (the meta-objective)."""
    per = []
    for i in range(n):
        losses = rollout(rule, family.problem(i), horizon)[1:]
        per.append(sum(losses) / len(losses))
    m, ci, k = band(per)
    return (m, ci) if k == n else (math.inf, math.nan)


def train_l2o(
    cfg: dict[str, Any],
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool | None = None,
    evaluate: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Meta-train the learned optimizer described by ``cfg`` into ``out_dir``; returns the evaluation.
    ``overwrite`` replaces a run already in ``out_dir`` (its files are deleted once the new run is built).
    Under `torchrun` each rank unrolls its share of the meta-batch's problems and the rule's gradients are
    averaged before every meta-step, as in `train.trainer` (rank 0 alone validates and writes)."""
    check_l2o_config(cfg)
    out = Path(out_dir)
    world, _ = init_world(torch.device("cpu"))
    reuse_freed_memory()
    try:
        share(cfg["meta_batch"], world)  # fails early, with a clear message, on an uneven split
        res = _train_l2o(cfg, out, resume, progress, world, overwrite)
    finally:
        close_world(world)
    if not world.is_main or not evaluate:
        return res
    return evaluate_run(out, train_seconds=res["train_seconds"])


def _train_l2o(
    cfg: dict[str, Any], out: Path, resume: bool, progress: bool | None, world: World, overwrite: bool = False
) -> dict[str, Any]:
    torch.manual_seed(cfg["seed"])
    rule = build_rule(cfg)
    train_f = build_family(cfg, cfg["family"], "train", cfg["seed"])
    val_f = build_family(cfg, cfg["family"], "val", cfg["eval_seed"])
    if world.is_main:  # after the run is built: a bad setting deletes nothing
        prepare_out(out, resume, overwrite)
    opt = torch.optim.Adam(rule.parameters(), lr=cfg["lr"])
    run = RunLog(out, cfg, rule, opt, resume, worst=math.inf, write=world.is_main)
    mb = cfg["meta_batch"]
    mine = share(mb, world)  # this rank's problems
    bar = tqdm(
        total=cfg["steps"],
        initial=run.start,
        unit="it",
        dynamic_ncols=True,
        disable=(None if progress is None else not progress) if world.is_main else True,
    )
    for it in range(run.start, cfg["steps"]):
        lr = run.lr(it)
        for group in opt.param_groups:
            group["lr"] = lr
        gens = [
            truncated_unrolls(
                rule, train_f.problem(it * mb + b), cfg["horizon"], cfg["unroll"], bool(cfg.get("second_order", False))
            )
            for b in mine
        ]
        total, final = 0.0, 0.0
        for windows in zip(*gens):
            loss = sum(w[0] for w in windows) / len(mine)
            value = average_metrics({"loss": float(loss.detach())}, world)["loss"]
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"The meta-loss became {value} at meta-iteration {it + 1}; the last good "
                    f"checkpoint is kept in {out / LAST}. Lower lr (now {lr:g}) and --resume."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(list(rule.parameters()), world)
            if cfg.get("grad_clip", 0) > 0:
                torch.nn.utils.clip_grad_norm_(rule.parameters(), cfg["grad_clip"])
            opt.step()
            total += value
            final = sum(w[3][-1] for w in windows) / len(mine)
        final = average_metrics({"last_loss": final}, world)["last_loss"]
        done = it + 1
        bar.update(1)
        if not world.is_main:
            continue
        record = run.add(done, {"loss": total / math.ceil(cfg["horizon"] / cfg["unroll"]), "last_loss": final})
        if record:
            bar.set_postfix(meta_loss=f"{record['loss']:.3g}")
        if run.due(done, "val_every"):
            val, ci = validate(rule, val_f, cfg["val_problems"], cfg["horizon"])
            record.update(val_score=-val, val_ci95=ci, val_loss=val)
            if val < run.best:
                run.best = val
                save_checkpoint(out / BEST, rule, {"config": cfg, "step": done, "val_loss": val})
        run.write(done, record, lr)
        run.checkpoint(done, rule, opt)
    bar.close()
    if not world.is_main:
        return {}
    if not (out / BEST).exists():
        raise TrainingDiverged(f"No validation score was finite during training; no {BEST} written in {out}.")
    learning_curve(run.path, out / "learning_curve.png", title=cfg.get("preset", "l2o"))
    return {"train_seconds": run.elapsed}


def evaluate_run(
    run_dir: str | os.PathLike,
    eval_problems: int | None = None,
    train_seconds: float | None = None,
    families: list[str] | None = None,
    results_name: str = "results.json",
) -> dict[str, Any]:
    """Tune the baselines per family on its ``val`` problems, then compare on held-out ``test`` problems at
    the training horizon and at ``horizon_mult`` times it; writes ``results_name``, curve plots and summary.txt."""
    out = Path(run_dir)
    rule, cfg = load_rule(out)
    n = eval_problems or cfg["eval_problems"]
    H, mult = cfg["horizon"], cfg["horizon_mult"]
    fams = families or [cfg["family"]] + [f for f in str(cfg.get("transfer_families", "")).split(",") if f]
    results: dict[str, Any] = {
        "preset": cfg.get("preset"),
        "commit": git_commit(),
        "machine": machine(),
        "seed": cfg["seed"],
        "train_seconds": train_seconds,
        "families": {},
    }
    prev = out / "results.json"
    if train_seconds is None and prev.exists():
        results["train_seconds"] = json.loads(prev.read_text()).get("train_seconds")
    lines = []
    for fam in fams:
        t = time.perf_counter()
        tuned = tune(build_family(cfg, fam, "val", cfg["eval_seed"]), cfg["tune_problems"], H, grid=grid(cfg))
        test_f = build_family(cfg, fam, "test", cfg["eval_seed"])
        entry: dict[str, Any] = {"seen_in_meta_training": fam == cfg["family"], "tuning": tuned}
        for h in (H, H * mult):
            res = compare(rule, test_f, tuned, h, n)
            res["train_horizon"] = H
            plot_curves(
                res,
                out / f"curves_{fam}_h{h}.png",
                title=f"{cfg.get('preset', 'l2o')}: {fam} test, {h} steps, {n} problems, 95% bands",
            )
            entry[f"h{h}"] = res
            L, A = res["optimizers"]["learned"], res["optimizers"]["adam"]
            lines.append(
                f"{fam} test, {h} steps ({'training horizon' if h == H else f'{mult}x'}): learned "
                f"{L['final_mean']:.4g} +- {L['final_ci95']:.2g} ({L['diverged']} diverged) vs tuned Adam "
                f"(lr {A['lr']:.3g}) {A['final_mean']:.4g} +- {A['final_ci95']:.2g}; best baseline "
                f"{res['best_baseline']}; learned better on {100 * res['vs_adam']['learned_better_fraction']:.0f}%"
                f" of problems; step() {L['ms_per_step']:.3f} ms vs Adam {A['ms_per_step']:.3f} ms"
            )
        entry["eval_seconds"] = time.perf_counter() - t
        results["families"][fam] = entry
    atomic_write_bytes(out / results_name, json.dumps(results, indent=1).encode())
    summary = (
        f"{cfg.get('preset', 'l2o')} ({cfg['l2o_net']} optimizer, trained on {cfg['family']}):\n  "
        + "\n  ".join(lines)
        + "\n"
    )
    atomic_write_bytes(out / "summary.txt", summary.encode())
    return results
