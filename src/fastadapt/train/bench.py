"""Declarative benchmarks: ``fastadapt bench SPEC.toml`` trains a preset (unless its run folder already holds a
finished run), tests the trained model on the episodes the spec lists, and writes one results file in one schema,
beside the papers' numbers and the goals the spec names. A spec is data, not a script:

    name = "mini-imagenet-protonet"
    preset = "mini-imagenet-protonet-5w5s"
    settings = ["val_every=1000"]              # --set changes to the preset
    run = "results/mini-imagenet-protonet-5w5s"
    budget = "<= 2 h of training on 2 CPU cores"

    [[tests]]       # each: metric, value, dataset ("" = the run's), split, ways, shots, queries, episodes, tta_flip
    label = "5w1s"  # metric: accuracy (the default), instance_accuracy, kl_to_gp or return (`measures`)
    shots = 1
    episodes = 1000

    [papers."Snell 2017, Table 2"]             # label -> [accuracy %, 95% interval]
    5w1s = [49.42, 0.78]

    [goals]                                    # label -> the accuracy % to reach
    5w1s = 44.0

Re-running a spec on a committed run (``--no-train``) re-tests it: the same episodes give the same numbers."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..configs.typed import ConfigError, from_dict
from ..io import atomic_write_bytes
from ..presets import apply_overrides, get_preset
from .measures import MEASURES, pick
from .run_log import provenance

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMMON = ("label", "metric", "split", "episodes")  # what every test's record holds; the rest: what its metric reads


@dataclass(frozen=True)
class TestSpec:
    """One test of the trained model: ``metric`` (`measures.MEASURES`: accuracy, instance_accuracy, kl_to_gp,
    return) on ``episodes`` episodes of ``dataset`` (empty: the run's own); ``value``: which of the metric's values
    it reports (empty: the metric's default); ``tta_flip``: with features averaged over each image and its mirror
    image (a test-time choice, made on validation episodes); ``samples``: latent draws for a Neural Process's
    likelihood (kl_to_gp)."""

    label: str
    metric: str = "accuracy"
    value: str = ""
    dataset: str = ""
    split: str = "test"
    ways: int = 5
    shots: int = 1
    queries: int = 15
    episodes: int = 600
    tta_flip: bool = False
    samples: int = 512


@dataclass(frozen=True)
class BenchSpec:
    """A benchmark: which preset with which changes trains the run, where the run lives, what tests it."""

    name: str
    preset: str
    run: str
    tests: list[TestSpec]
    settings: list[str] = field(default_factory=list)
    budget: str = ""
    papers: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    goals: dict[str, float] = field(default_factory=dict)


def load_spec(path: str | Path) -> BenchSpec:
    """The `BenchSpec` of a TOML file, every value type-checked (a wrong one names its key and the file)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"No benchmark spec {path}; `ls benchmarks/specs` lists the committed ones.") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}.") from None
    try:
        tests = [from_dict(TestSpec, t) for t in raw.get("tests", [])]
        spec = from_dict(BenchSpec, {**raw, "tests": []})
    except (ConfigError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None
    if not tests:
        raise ValueError(f"{path} lists no [[tests]]; add one (label, shots, episodes, ...).")
    bad = sorted({t.metric for t in tests} - set(MEASURES))
    if bad:
        raise ValueError(f"{path}: unknown metric {bad}; use one of {sorted(MEASURES)}.")
    unknown = {label for rows in spec.papers.values() for label in rows} | set(spec.goals)
    unknown -= {t.label for t in tests}
    if unknown:
        raise ValueError(f"{path}: papers / goals name {sorted(unknown)}, which no [[tests]] label is.")
    return replace(spec, tests=tests)


def run_config(spec: BenchSpec) -> dict[str, Any]:
    """The training configuration of a spec: its preset with its settings applied."""
    return apply_overrides(get_preset(spec.preset), spec.settings)


def run_tests(spec: BenchSpec, device: str = "cpu") -> list[dict[str, Any]]:
    """Each test of the spec on the run's best checkpoint, on the run's evaluation seed (tests that differ only in
    the value they report share one measurement)."""
    from .trainer import load_run

    learner, cfg = load_run(spec.run, device=device)
    rows, measured = [], {}
    for t in spec.tests:
        key = tuple(v for k, v in asdict(t).items() if k not in ("label", "value"))
        if key not in measured:
            measured[key] = MEASURES[t.metric].fn(learner, cfg, t, device)
        name, score, ci = pick(measured[key], t.metric, t.value, t.label)
        used = {k: v for k, v in asdict(t).items() if k in COMMON or k in MEASURES[t.metric].reads}
        row = {**used, "value": name, "score": score, "ci95": ci}
        if t.metric == "accuracy":
            row.update(dataset=t.dataset or cfg["dataset"], accuracy=score)
        rows.append(row)
    return rows


def compare(spec: BenchSpec, tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per test: ours (in % for accuracies), each paper's, and whether the goal is met."""
    rows = []
    for t in tests:
        m = MEASURES[t.get("metric", "accuracy")]
        scale, digits = (100, 2) if m.percent else (1, 3)
        row = {
            "label": t["label"],
            "ours": round(scale * _score(t), digits),
            "ours_ci95": round(scale * t["ci95"], digits),
            "unit": "%" if m.percent else "",
        }
        row.update({src: nums[t["label"]] for src, nums in spec.papers.items() if t["label"] in nums})
        if t["label"] in spec.goals:
            goal = spec.goals[t["label"]]
            row.update(goal=goal, met=row["ours"] >= goal if m.higher_is_better else row["ours"] <= goal)
        rows.append(row)
    return rows


def _score(test: dict[str, Any]) -> float:
    return test["score"] if "score" in test else test["accuracy"]  # records written before metrics: accuracy only


class BenchMismatch(AssertionError):
    """A re-test of a committed run gave other numbers than its committed record."""


def check_same(old: dict[str, Any], new: dict[str, Any], path: Path) -> None:
    """Refuse ``new`` when a test it shares with the committed record ``old`` (by label) has another score."""
    before = {t["label"]: t for t in old.get("tests", [])}
    diff = [
        f"{t['label']}: committed {_score(before[t['label']]):.6g}, now {_score(t):.6g}"
        for t in new["tests"]
        if t["label"] in before and abs(_score(before[t["label"]]) - _score(t)) > 1e-9
    ]
    if diff:
        raise BenchMismatch(f"Re-testing {new['run']} does not reproduce {path}: {'; '.join(diff)}.")


def bench(
    spec_path: str | Path,
    train_run: bool = True,
    resume: bool = False,
    out: str | Path | None = None,
    check: bool = False,
) -> dict:
    """Run a spec: train (when asked and the run is not finished), test, write and return the results record
    (default ``results/bench/<name>.json``). ``check``: the record already there must be reproduced exactly (the
    same accuracies for the tests both hold), and is left as it is."""
    from .trainer import train

    start = time.time()
    spec = load_spec(spec_path)
    cfg = run_config(spec)
    run = Path(spec.run)
    if train_run and (resume or not (run / "results.json").exists()):
        train(cfg, run, resume=resume, progress=False)
    if not (run / "config.json").exists():
        raise FileNotFoundError(f"No run in {run}; run `fastadapt bench {spec_path}` without --no-train to train it.")
    trained = json.loads((run / "results.json").read_text()) if (run / "results.json").exists() else {}
    tests = run_tests(spec)
    record = {
        "benchmark": spec.name,
        "spec": str(spec_path),
        "command": "fastadapt bench " + " ".join(map(str, [spec_path, *([] if train_run else ["--no-train"])])),
        "preset": spec.preset,
        "settings": spec.settings,
        "run": str(run),
        "budget": spec.budget,
        "seed": cfg["seed"],
        "train_steps": trained.get("train_steps"),
        "train_seconds": trained.get("train_seconds"),
        "trained_at_commit": trained.get("commit"),
        "tests": tests,
        "comparison": compare(spec, tests),
        **provenance(start),
    }
    path = Path(out) if out else Path("results") / "bench" / f"{spec.name}.json"
    if check:
        if not path.exists():
            raise FileNotFoundError(f"--check compares with {path}, which does not exist; run without --check first.")
        check_same(json.loads(path.read_text()), record, path)
        return record
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return record


def summary_lines(record: dict[str, Any]) -> list[str]:
    """The comparison as text, one line per test."""
    lines = []
    for row in record["comparison"]:
        papers = "; ".join(f"{k} {v[0]:g}" for k, v in row.items() if isinstance(v, list))
        goal = f"; goal {row['goal']:g} {'met' if row['met'] else 'not met'}" if "goal" in row else ""
        lines.append(
            f"{record['benchmark']} {row['label']}: {row['ours']:g} +- {row['ours_ci95']:g}{row.get('unit', '%')}"
            + (f" ({papers})" if papers else "")
            + goal
        )
    return lines
