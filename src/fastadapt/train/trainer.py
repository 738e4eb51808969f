"""Meta-training a learner on episodes (`fastadapt train`): the configuration is checked, the learner and task
samplers are built, `EpisodeObjective` runs on the one loop (`train.loop.fit`), and the best checkpoint is tested
into ``results.json`` and ``summary.txt``; `load_run` reads a run folder back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..configs import build_learner, from_dict
from ..configs.run import TrainConfig
from ..cpu_memory import reuse_freed_memory
from ..io import atomic_write_bytes
from ..learners import Learner
from ..learners.base import METHODS
from ..nn.episodic import check_precision, fastest_precision, resolve_device  # noqa: F401 (resolve_device re-exported)
from ..presets import PRESETS, get_preset
from ..presets.limits import check_limits
from ..seeding import seeded_generator
from ..tasks import REGRESSION_DATASETS, build_sampler
from ..tasks.augment import augment_batch
from .backward import meta_backward
from .distributed import average_metrics, close_world, init_world, shard, share
from .evaluate import NonFinitePredictions, evaluate
from .loop import TrainingDiverged, fit, require_finite, update  # noqa: F401 (TrainingDiverged: re-exported)
from .plots import learning_curve
from .run_log import (  # noqa: F401 (git_commit, machine, provenance, read_config, write_config: re-exported)
    BEST,
    apply_init_sources,
    check_init_sources,
    git_commit,
    machine,
    prepare_out,
    provenance,
    read_calibration,
    read_config,
    write_config,
)

T = TypeVar("T")


def hardware() -> str:
    """ "GPU" or "CPU": what a benchmark's budget was spent on (with the default device "auto")."""
    return "GPU" if torch.cuda.is_available() else "CPU"


TRAIN_DEVICES = ("cpu", "cuda", "mps", "xpu")
# Sizes every preset has (DEFAULTS): an integer one must be >= 1.
POSITIVE_SIZES = ("hidden", "channels", "image_size", "ways", "shots", "queries", "train_shots", "train_queries")


def check_config(cfg: dict[str, Any]) -> TrainConfig:
    """Refuse a configuration that cannot train, before any work is done and before --out is touched; returns its
    typed training settings."""
    settings = from_dict(TrainConfig, cfg)
    for key in POSITIVE_SIZES:  # where they are integers (regression presets use ranges / None)
        value = cfg.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}; set it with --set {key}=N.")
    check_limits(cfg)
    check_train_ways(cfg)
    check_device(settings.device)
    return settings


def check_train_ways(cfg: dict[str, Any]) -> None:
    """A classification run's training episodes need at least two classes (regression data sets have none)."""
    ways = cfg.get("train_ways")
    if ways is None or cfg.get("dataset") in REGRESSION_DATASETS:
        return
    if isinstance(ways, bool) or not isinstance(ways, int) or ways < 2:
        raise ValueError(
            f"train_ways must be an integer >= 2 (an episode needs two classes to tell apart), "
            f"got {ways!r}; set it with --set train_ways=N."
        )


def check_device(name: Any) -> None:
    """Refuse a device name torch does not know, or a CUDA device where torch finds no GPU, with what to pass
    instead."""
    if name == "auto":
        return
    try:
        kind = torch.device(name).type
    except (RuntimeError, TypeError, ValueError):
        kind = None
    if kind not in TRAIN_DEVICES:
        raise ValueError(
            f"device={name!r} is not a device fastadapt trains on; use --set device=auto (a GPU when "
            f"there is one, else the CPU), cpu, cuda or cuda:N."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ValueError(
            f"device={name!r} asks for a GPU, but {why}. Use --set device=auto (a GPU when there "
            f"is one, else the CPU) or --set device=cpu."
        )
    if kind in ("mps", "xpu"):
        try:
            torch.empty(0, device=name)
        except (RuntimeError, AssertionError):
            raise ValueError(
                f"device={name!r} is not available on this machine; use --set device=auto or --set device=cpu."
            ) from None


def changed_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``cfg`` whose values differ from its preset's (the `--set` values; none without a preset)."""
    name = cfg.get("preset")
    if name not in PRESETS:
        return {}
    base = get_preset(name)
    return {k: v for k, v in cfg.items() if k not in ("preset", "data_root") and (k not in base or v != base[k])}


def from_settings(
    cfg: dict[str, Any],
    build: Callable[[], T],
    errors: tuple[type[BaseException], ...] = (ValueError, RuntimeError, OverflowError, MemoryError),
) -> T:
    """``build()``: a learner or task sampler made from ``cfg``. When it fails on a configuration that changes its
    preset's settings, the error names those settings: a learner or data set refusing a value (a negative width, a
    size beyond memory) often says so in its own terms, without the key that was set."""
    try:
        return build()
    except errors as e:
        changed = changed_settings(cfg)
        if not changed:
            raise
        what = str(e).strip().rstrip(".") or ("out of memory" if isinstance(e, MemoryError) else type(e).__name__)
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        raise ValueError(
            f"{what}. Settings changed from preset {cfg['preset']!r}: {shown}; correct the one at "
            f"fault, or leave it at the preset's value (`--set KEY=VALUE`)."
        ) from e


def train(
    cfg: dict[str, Any],
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Meta-train the learner described by ``cfg`` into ``out_dir``; returns the test results. A folder that
    holds a run needs ``resume`` (continue it) or ``overwrite`` (replace it, once ``cfg`` is validated)."""
    tc = check_config(cfg)
    out = Path(out_dir)
    world, device = init_world(resolve_device(tc.device))
    cfg = with_precision(cfg, device, out / "config.json" if resume else None)
    check_precision(cfg.get("precision", "fp32"), device)
    if device.type == "cpu":
        reuse_freed_memory()  # ~1.5x faster CPU steps (see fastadapt.cpu_memory)
    try:
        return _train(cfg, tc, out, resume, progress, world, device, overwrite)
    finally:
        close_world(world)


def with_precision(cfg: dict[str, Any], device: torch.device, resumed: Path | None = None) -> dict[str, Any]:
    """``precision="auto"`` resolved for ``device`` and the run's learner (`fastest_precision`: bf16 on a GPU with
    bf16 or a CPU with AMX, else fp32); the run's config records the precision used and ``precision_requested``.
    A resumed run (``resumed``: its saved config.json) keeps the precision it picked, on any machine."""
    if cfg.get("precision") != "auto":
        return cfg
    saved = read_config(resumed) if resumed is not None and resumed.exists() else {}
    if saved.get("precision_requested") == "auto":
        return {**cfg, "precision": saved["precision"], "precision_requested": "auto"}
    offered = METHODS.get_or_raise(cfg["method"]).supports_precision
    return {**cfg, "precision": fastest_precision(device, offered), "precision_requested": "auto"}


def with_data_root(cfg: dict[str, Any], out: Path, resume: bool) -> dict[str, Any]:
    """``cfg`` with its data root recorded, so `fastadapt eval` / `adapt` and `load_run` later find the data without
    $FASTADAPT_DATA: an empty ``data_root`` becomes the one the run folder's config.json recorded (``resume``: the
    same configuration as the resumed run, see `check_resumable`), else the one resolved now (`data_root`)."""
    if cfg.get("data_root"):
        return cfg
    saved = out / "config.json"
    if resume and saved.exists():
        return {**cfg, "data_root": read_config(saved).get("data_root", "")}  # "" when recorded before this
    from ..tasks.omniglot import data_root

    return {**cfg, "data_root": str(data_root().absolute())}


class EpisodeObjective:
    """Meta-learning on episodes (Finn 2017, Snell 2017, ...): step ``i`` draws meta-batch ``i`` of training tasks
    (augmented when ``augment`` is set) and back-propagates the learner's meta-loss; validation is the mean score
    over ``val_episodes`` validation episodes (accuracy, minus the MSE, or a meta-RL return)."""

    def __init__(self, learner: Learner, cfg: dict[str, Any], tc: TrainConfig, world, device) -> None:
        self.model, self.cfg, self.tc, self.world, self.device = learner, cfg, tc, world, device
        self.train_s = from_settings(
            cfg,
            lambda: build_sampler(cfg, "train", cfg["train_ways"], cfg["train_shots"], cfg["train_queries"], tc.seed),
        )
        if learner.global_labels:  # supervised pre-training: labels are the classes' own ids
            self.train_s.use_class_ids()
        self.val_s = from_settings(
            cfg, lambda: build_sampler(cfg, "val", cfg["ways"], cfg["shots"], cfg["queries"], tc.eval_seed)
        )

    def param_groups(self) -> list[dict[str, Any]]:
        return self.model.param_groups()

    def step(self, step: int, opt: torch.optim.Optimizer) -> dict[str, float]:
        batch = shard(self.train_s.batch(step, self.tc.meta_batch), self.world)
        if self.tc.augment:
            batch = augment_batch(batch, self.tc.augment, seeded_generator(self.tc.seed, step, offset=7))
        batch = batch.to(self.device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        metrics = average_metrics(meta_backward(self.model, batch), self.world)
        require_finite(metrics["loss"])
        update(opt, list(self.model.parameters()), self.world, self.tc.grad_clip)
        return metrics

    def validate(self) -> dict[str, float]:
        val = from_settings(
            self.cfg,
            lambda: evaluate_any(self.model, self.val_s, self.tc.val_episodes, self.device),
            (NonFinitePredictions,),
        )
        record = {"val_score": val["score"], "val_ci95": val["ci95"]}
        if "accuracy" in val:
            record["val_acc"] = val["accuracy"]
        return record


def _train(
    cfg: dict[str, Any],
    tc: TrainConfig,
    out: Path,
    resume: bool,
    progress: bool | None,
    world,
    device,
    overwrite: bool = False,
) -> dict[str, Any]:
    share(tc.meta_batch, world)  # fails early, with a clear message, on an uneven split
    cfg = with_data_root(cfg, out, resume)
    torch.manual_seed(tc.seed)
    # the learner and the task samplers are made before --out is touched: a setting they refuse costs nothing
    learner = from_settings(cfg, lambda: build_learner(cfg)).to(device)
    objective = EpisodeObjective(learner, cfg, tc, world, device) if tc.steps else None
    check_init_sources(cfg, learner)
    if world.is_main:
        prepare_out(out, resume, overwrite)
    if objective is None:
        return _untrained_run(cfg, out, learner, device, world)
    done, train_seconds = fit(objective, cfg, tc, out, resume, progress, world)
    if not world.is_main:
        return {}
    learning_curve(out / "metrics.jsonl", out / "learning_curve.png", title=cfg.get("preset", cfg["method"]))
    return finish_run(out, cfg, device, train_seconds, done)


def evaluate_any(learner: Learner, sampler: Any, episodes: int, device: torch.device) -> dict[str, Any]:
    """`evaluate`, or for meta-RL learners (``task_type == "rl"``) average returns per adaptation stage
    (fastadapt.rl)."""
    if learner.task_type == "rl":
        from ..rl.evaluate import evaluate_rl

        return evaluate_rl(learner, sampler, episodes, device)
    return evaluate(learner, sampler, episodes, device=device)


def _untrained_run(cfg: dict[str, Any], out: Path, learner: Learner, device: torch.device, world) -> dict[str, Any]:
    """``steps=0``: no meta-training. The initial model (a pretrained backbone and a parameter-free head, say) is
    saved as the run's best checkpoint and tested, so `fastadapt eval` / `adapt` use it like any trained run."""
    if not world.is_main:
        return {}
    apply_init_sources(cfg, learner)  # the weights to test (e.g. another run's, on a new data set)
    write_config(out, cfg)
    save_checkpoint(out / BEST, learner, {"config": cfg, "step": 0, "val_score": None})
    return finish_run(out, cfg, device, 0.0, 0)


def load_run(
    run_dir: str | os.PathLike, which: str = BEST, device: str | torch.device = "cpu"
) -> tuple[Learner, dict[str, Any]]:
    """The learner of a run folder (best checkpoint by default) and its configuration."""
    run = Path(run_dir)
    if not (run / "config.json").exists():
        raise FileNotFoundError(
            f"{run} is not a fastadapt run folder (no config.json). "
            f"Create one with `fastadapt train --preset NAME --out {run}`."
        )
    cfg = read_config(run / "config.json")
    if cfg.get("data_root") and not Path(cfg["data_root"]).exists():
        cfg["data_root"] = ""  # recorded on another machine: look where this one keeps its data
    learner = build_learner(cfg)
    load_checkpoint(run / which, learner)
    if which == BEST:  # `fastadapt calibrate` fits the temperature to the best checkpoint
        learner.calibration_temperature = read_calibration(run)
    return learner.to(device).eval(), cfg


def finish_run(
    out: Path, cfg: dict[str, Any], device: torch.device, train_seconds: float, steps: int | None = None
) -> dict[str, Any]:
    """Test the best checkpoint and write results.json and summary.txt (``steps``: the steps trained, when a
    time limit stopped the run before ``cfg["steps"]``)."""
    steps = cfg["steps"] if steps is None else steps
    learner, _ = load_run(out, BEST, device)
    test_s = from_settings(
        cfg, lambda: build_sampler(cfg, "test", cfg["ways"], cfg["shots"], cfg["queries"], cfg["eval_seed"])
    )
    res = from_settings(
        cfg, lambda: evaluate_any(learner, test_s, cfg["eval_episodes"], device), (NonFinitePredictions,)
    )
    results = {
        "preset": cfg.get("preset"),
        "split": "test",
        **res,
        "train_seconds": train_seconds,
        "train_steps": steps,
        "seed": cfg["seed"],
        "commit": git_commit(),
        "machine": machine(),
        "config": cfg,
    }
    atomic_write_bytes(out / "results.json", json.dumps(results, indent=1).encode())
    if "headline" in res:  # meta-RL: returns per adaptation stage
        headline = res["headline"]
    elif "accuracy" in res:
        headline = (
            f"{cfg['ways']}-way {cfg['shots']}-shot test accuracy {100 * res['accuracy']:.2f} +- "
            f"{100 * res['ci95']:.2f}% over {res['episodes']} episodes (NLL {res['nll']:.3f}, "
            f"ECE {res['ece']:.4f})"
        )
    else:
        headline = (
            f"{cfg['shots']}-shot test MSE {res['mse']:.4f} +- {res['ci95']:.4f} over "
            f"{res['episodes']} tasks" + (f" (NLL {res['nll']:.3f})" if "nll" in res else "")
        )
    summary = (
        f"{cfg.get('preset', cfg['method'])}: {headline}; trained {steps} steps in "
        f"{train_seconds / 60:.1f} min on {machine()}.\n"
    )
    atomic_write_bytes(out / "summary.txt", summary.encode())
    return results
