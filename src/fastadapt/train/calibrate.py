"""`fastadapt calibrate RUN`: temperature scaling (Guo et al., 2017) of a run's test-time probabilities. One temperature
is fitted to the best checkpoint's predictions on episodes it is not tested on (the validation classes, or for a
test-only data set its test classes with other episodes than the evaluation's) and stored in the run folder
(``calibration.json``), where `load_run`, and so `fastadapt eval` and `fastadapt adapt`, apply it. The predicted
classes, and so accuracy, do not change; NLL and ECE do. A few-shot model's confidence can be far off (a ProtoNet
trained on 5-shot episodes and tested 1-shot is over-confident; a head fitted on a handful of support photos is often
under-confident), and the probabilities are what `fastadapt adapt` shows a user."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_bytes
from ..learners.base import Prediction
from ..tasks import build_sampler
from ..tasks.image_sets import DataSetError
from .calibration import fit_temperature
from .evaluate import collect, summarize
from .run_log import CALIBRATION, git_commit, machine
from .trainer import load_run

METRICS = ("nll", "ece", "brier")  # what temperature scaling changes (accuracy stays)


def calibrate_run(
    run_dir: str | os.PathLike,
    split: str = "val",
    episodes: int = 300,
    *,
    ways: int | None = None,
    shots: int | None = None,
    seed: int | None = None,
    dataset: str | None = None,
    data_root: str | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Fit and store the run's calibration temperature; returns the record written to ``calibration.json``.
    ``seed`` picks the episodes (default: the run's ``eval_seed`` on the validation split, ``eval_seed + 1`` on the
    test split, whose ``eval_seed`` episodes are the ones `fastadapt eval` reports)."""
    learner, cfg = load_run(run_dir, device=device)
    learner.calibration_temperature = 1.0  # fitted afresh, from the uncalibrated logits
    if learner.task_type != "classification":
        raise ValueError(
            f"{run_dir} is a {learner.task_type} run: temperature scaling calibrates class probabilities, so only "
            f"classification runs can be calibrated."
        )
    if episodes < 1:
        raise ValueError(f"episodes must be a positive number of episodes, got {episodes}.")
    if data_root:
        cfg["data_root"] = data_root
    if dataset:
        cfg["dataset"] = dataset
    ways, shots = ways or cfg["ways"], shots or cfg["shots"]
    seed = (cfg["eval_seed"] + (split == "test")) if seed is None else seed
    if split == "test" and seed == cfg["eval_seed"]:
        raise ValueError(
            f"seed {seed} draws the test episodes `fastadapt eval` reports: fitting the temperature on them would "
            f"grade it on its own data. Pick another seed (default {cfg['eval_seed'] + 1})."
        )
    try:
        sampler = build_sampler(cfg, split, ways, shots, cfg["queries"], seed)
    except DataSetError as e:
        if split != "val":
            raise
        raise ValueError(
            f"{e}\nIt has no validation classes: calibrate on its test classes with other episodes than the "
            f"evaluation's, `fastadapt calibrate {run_dir} --split test` (seed {cfg['eval_seed'] + 1})."
        ) from None
    pred, labels, _ = collect(learner, sampler, episodes, device=device)
    temperature = fit_temperature(pred.logits, labels)
    before, after = summarize(pred, labels), summarize(Prediction(logits=pred.logits / temperature), labels)
    record = {
        "temperature": temperature,
        "method": "temperature scaling (Guo et al. 2017): the NLL-minimizing temperature of the test-time logits",
        "dataset": cfg["dataset"],
        "split": split,
        "ways": ways,
        "shots": shots,
        "queries": cfg["queries"],
        "episodes": episodes,
        "seed": seed,
        "accuracy": before["accuracy"],
        "before": {k: before[k] for k in METRICS},
        "after": {k: after[k] for k in METRICS},
        "command": "fastadapt " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["calibrate"] else "calibrate_run",
        "commit": git_commit(),
        "machine": machine(),
    }
    atomic_write_bytes(Path(run_dir) / CALIBRATION, (json.dumps(record, indent=1) + "\n").encode())
    return record
