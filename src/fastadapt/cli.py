"""`fastadapt train | eval | calibrate | adapt | bench | presets | data`: the command-line interface."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import torch

from .cpu_memory import reuse_freed_memory


def package_version() -> str:
    """fastadapt's version from the installed package's metadata, else from the checkout's pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fastadapt")
    except PackageNotFoundError:
        import re

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.exists() else None
        return found.group(1) if found else "unknown"


def dataset_arg(value: str) -> str:
    """``--dataset`` of `fastadapt train`: a name, or ``folder:DIR`` with DIR made absolute (the run then finds its
    data from any working directory)."""
    prefix, sep, path = value.partition(":")
    if prefix == "folder" and sep:
        if not path:
            raise ValueError(
                "--dataset folder: names no folder; use --dataset folder:/path/to/DIR (DIR/<class name>/<images>)."
            )
        return "folder:" + str(Path(path).expanduser().absolute())
    return value


def _train(a: argparse.Namespace) -> None:
    from .presets import apply_overrides, get_preset

    cfg = apply_overrides(get_preset(a.preset), a.set or [])
    if a.data_root:
        cfg["data_root"] = a.data_root
    if a.dataset:
        cfg["dataset"] = dataset_arg(a.dataset)
    if cfg.get("trainer") == "l2o":  # learning to optimize: its own objective and evaluation
        from .train.l2o import train_l2o as train
    else:
        from .train.trainer import train
    res = train(cfg, a.out or f"runs/{a.preset}", resume=a.resume, overwrite=a.overwrite)
    if not res:  # a non-zero rank under torchrun: rank 0 reports
        return
    print((Path(a.out or f"runs/{a.preset}") / "summary.txt").read_text().strip())
    if a.json:
        print(json.dumps({k: v for k, v in res.items() if k != "config"}))


def _l2o_eval(a: argparse.Namespace) -> bool:
    """Learned-optimizer runs (config "trainer": "l2o") are evaluated by fastadapt.optim."""
    from .train.run_log import read_config

    cfg_path = Path(a.run_dir) / "config.json"
    if not cfg_path.exists() or read_config(cfg_path).get("trainer") != "l2o":
        return False
    from .train.l2o import evaluate_run

    res = evaluate_run(a.run_dir, eval_problems=a.episodes, results_name="eval.json")
    print(json.dumps(res) if a.json else (Path(a.run_dir) / "summary.txt").read_text().strip())
    return True


def check_eval_args(a: argparse.Namespace) -> None:
    """Refuse `fastadapt eval` settings that cannot mean anything (an explicit 0 would otherwise fall back to the
    run's own value in silence), and a device this machine does not have."""
    from .train.trainer import check_device

    for flag in ("ways", "shots", "queries", "episodes"):
        value = getattr(a, flag)
        if value is not None and value < 1:
            raise ValueError(
                f"--{flag} must be a positive integer, got {value}; leave it out to use the run's own "
                f"value (its config.json)."
            )
    if a.latency_tasks < 0:
        raise ValueError(f"--latency-tasks must be >= 0 (0 skips the timing), got {a.latency_tasks}.")
    try:
        check_device(a.device)
    except ValueError as e:
        raise ValueError(str(e).replace("--set device=", "--device ")) from None


def _eval(a: argparse.Namespace) -> None:
    from .tasks import build_sampler
    from .train.calibration import reliability_diagram
    from .train.evaluate import collect, summarize
    from .train.trainer import load_run, resolve_device

    check_eval_args(a)
    if _l2o_eval(a):
        return
    device = resolve_device(a.device)
    learner, cfg = load_run(a.run_dir, device=device)
    if learner.task_type == "rl":  # meta-RL: average returns per adaptation stage (fastadapt.rl)
        from .rl.evaluate import eval_rl_run
        from .train.trainer import git_commit, machine

        res, line = eval_rl_run(learner, cfg, a.split, a.episodes, a.shots, device)
        res.update(run=str(a.run_dir), commit=git_commit(), machine=machine())
        print(json.dumps(res) if a.json else line)
        return
    if a.eval_bn:
        learner.set_eval_bn(a.eval_bn)
    if a.finetune_steps:
        from .learners.finetune import SupportFineTuning

        learner = SupportFineTuning(learner, a.finetune_steps, a.finetune_lr)
    if a.data_root:
        cfg["data_root"] = a.data_root
    if a.dataset:  # cross-domain: test the run's model on another data set
        cfg["dataset"] = a.dataset
    ways, shots = a.ways or cfg["ways"], a.shots or cfg["shots"]
    queries, episodes = a.queries or cfg["queries"], a.episodes or cfg["eval_episodes"]
    sampler = build_sampler(cfg, a.split, ways, shots, queries, cfg["eval_seed"], within_group=a.within_alphabet)
    pred, labels, secs = collect(learner, sampler, episodes, device=device)
    res = summarize(pred, labels)
    from .train.trainer import git_commit, machine

    res.update(
        command="fastadapt " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["eval"] else "fastadapt eval",
        run=str(a.run_dir),
        commit=git_commit(),
        machine=machine(),
    )
    res.update(
        ways=ways,
        shots=shots,
        split=a.split,
        dataset=cfg["dataset"],
        within_alphabet=a.within_alphabet,
        eval_bn=learner.eval_bn,
        calibration_temperature=learner.calibration_temperature,
        episodes_per_second=episodes / secs,
    )
    if a.latency_tasks:
        from .train.evaluate import adaptation_latency_ms

        res.update(adaptation_latency_ms(learner, sampler, a.latency_tasks, device=device))
    if a.diagram and pred.logits is not None:
        reliability_diagram(pred.probs, labels, a.diagram, title=f"{Path(a.run_dir).name} {ways}w{shots}s")
    if a.json:
        print(json.dumps(res))
    elif "mse" in res:
        print(
            f"{shots}-shot on {a.split}: MSE {res['mse']:.4f} +- {res['ci95']:.4f} over {res['episodes']} tasks"
            + (f"; NLL {res['nll']:.4f}" if "nll" in res else "")
        )
    else:
        proto = (" (within-alphabet)" if a.within_alphabet else "") + (
            ", BatchNorm batch statistics (transductive)" if learner.eval_bn == "transductive" else ""
        )
        print(
            f"{ways}-way {shots}-shot on {cfg['dataset']} {a.split}{proto}: accuracy {100 * res['accuracy']:.2f} +- "
            f"{100 * res['ci95']:.2f}% over {res['episodes']} episodes; NLL {res['nll']:.4f}, "
            f"ECE {res['ece']:.4f}, Brier {res['brier']:.4f}"
            + (
                f" (temperature {learner.calibration_temperature:.3g}, fastadapt calibrate)"
                if learner.calibration_temperature != 1.0
                else ""
            )
        )
    if a.latency_tasks and not a.json:
        print(
            f"adaptation latency: {res['adapt_ms']:.2f} ms per task (median of {res['latency_tasks']}; "
            f"mean {res['adapt_ms_mean']:.2f}, p90 {res['adapt_ms_p90']:.2f})"
        )


def _bench(a: argparse.Namespace) -> None:
    from .train.bench import bench, summary_lines

    if a.out and len(a.spec) > 1:
        raise ValueError(f"--out names one results file, but {len(a.spec)} specs were given; give one spec with --out.")
    for spec in a.spec:  # one after the other, each printed as it finishes
        record = bench(spec, train_run=not a.no_train, resume=a.resume, out=a.out, check=a.check)
        print("\n".join(summary_lines(record)), flush=True)


def _calibrate(a: argparse.Namespace) -> None:
    from .train.calibrate import calibrate_run
    from .train.trainer import resolve_device

    r = calibrate_run(
        a.run_dir,
        a.split,
        a.episodes,
        ways=a.ways,
        shots=a.shots,
        seed=a.seed,
        dataset=a.dataset,
        data_root=a.data_root,
        device=resolve_device(a.device),
    )
    b, f = r["before"], r["after"]
    print(
        f"{a.run_dir}: temperature {r['temperature']:.4g} fitted on {r['episodes']} {r['ways']}-way {r['shots']}-shot "
        f"{r['dataset']} {r['split']} episodes (seed {r['seed']}; accuracy {100 * r['accuracy']:.2f}%, unchanged): "
        f"NLL {b['nll']:.4f} -> {f['nll']:.4f}, ECE {b['ece']:.4f} -> {f['ece']:.4f}; fastadapt eval and adapt "
        f"now apply it ({Path(a.run_dir) / 'calibration.json'})"
    )


def _adapt(a: argparse.Namespace) -> None:
    from .tasks.folders import load_query_folder, load_support_folder
    from .train.trainer import load_run

    learner, cfg = load_run(a.run_dir)
    size, channels = cfg["image_size"], cfg.get("channels", 1)
    sx, sy, classes, _ = load_support_folder(a.support, size, channels, a.fit)
    qx, files = load_query_folder(a.query, size, channels, a.fit)
    with torch.no_grad():
        probs = learner.adapt(sx, sy, len(classes)).predict(qx).probs
    conf, idx = probs.max(-1)
    rows = [
        {"query": str(f), "class": classes[i], "probability": float(c)} for f, i, c in zip(files, idx.tolist(), conf)
    ]
    for r in rows:
        print(f"{r['query']}\t{r['class']}\t{r['probability']:.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    if a.sheet:
        from .train.plots import contact_sheet

        truth = [f.parent.name if f.parent.name in classes else None for f in files]  # queries filed by class
        contact_sheet(sx, sy, classes, qx, idx, conf, a.sheet, truth=truth if any(truth) else None)
        print(f"contact sheet: {a.sheet}")


def _presets(a: argparse.Namespace) -> None:
    from .presets import PRESETS

    for name, p in sorted(PRESETS.items()):
        print(f"{name:32s} {p['description']}")


def _data_folder(a: argparse.Namespace) -> None:
    """`fastadapt data folder DIR`: decode the image folder into its cache and show the class split."""
    import time

    from .tasks.own_data import folder_split, image_folder_classes

    t = time.perf_counter()
    size = a.size or 84
    data = image_folder_classes(a.path, size, a.channels)
    split, path = folder_split(a.path, data.class_names)
    counts = dict(zip(data.class_names, torch.bincount(data.y, minlength=len(data.class_names)).tolist()))
    print(
        f"{Path(a.path).expanduser().absolute()}: {len(counts)} classes, {len(data.x)} images at {size}x{size} "
        f"{'RGB' if a.channels == 3 else 'grayscale'}, cached in {path.parent} "
        f"(ready in {time.perf_counter() - t:.1f} s)"
    )
    for part, names in split.items():
        shown = ", ".join(f"{c} ({counts[c]})" for c in names[:12]) + (", ..." if len(names) > 12 else "")
        print(f"  {part}: {len(names)} classes, {sum(counts[c] for c in names)} images: {shown}")
    print(f"  images per class: min {min(counts.values())}, max {max(counts.values())}")
    fewest = min(len(split["val"]), len(split["test"]))
    if fewest < 5:
        print(
            f"  note: val / test hold {fewest} classes: train with --set ways={fewest} (5-way episodes need 5 "
            f"classes in each part), or add class folders"
        )
    print(f"  split: {path} (edit it to move classes between parts)")


def _data(a: argparse.Namespace) -> None:
    import time

    t = time.perf_counter()
    if a.name == "folder" or a.path:
        if a.name != "folder" or not a.path:
            raise ValueError(
                "Only `fastadapt data folder DIR` takes a folder: DIR holds one sub-folder of images per class."
                if a.path
                else "`fastadapt data folder` needs the folder: fastadapt data folder DIR."
            )
        return _data_folder(a)
    a.size = a.size or 28
    if a.name != "omniglot":
        from .tasks.image_sets import SPECS, load_image_set

        name = "flowers102-partial" if a.name == "flowers" else a.name
        for part in SPECS[name].parts:
            d = load_image_set(name, part, root=a.data_root or None)
            print(
                f"{name} {part}: {len(d.class_names)} classes, {len(d.x)} images at "
                f"{d.x.shape[-1]}x{d.x.shape[-2]} RGB, counts verified, sha256 "
                f"{'as published' if d.published_sha256 else 'differs from the published archive (contents checked)'}"
                f" (ready in {time.perf_counter() - t:.1f} s)"
            )
        return
    from .tasks.omniglot import load_images, split_characters

    data = load_images(a.data_root or None, a.size)
    print(
        f"Omniglot: {len(set(data.alphabets))} alphabets, {len(data.alphabets)} characters, "
        f"{data.images.shape[0] * data.images.shape[1]} images at {a.size}x{a.size} "
        f"(ready in {time.perf_counter() - t:.1f} s)"
    )
    for split, parts in (("vinyals", ("train", "val", "test")), ("lake", ("background", "evaluation"))):
        print(f"  {split}: " + ", ".join(f"{p} {len(split_characters(data, split, p))} characters" for p in parts))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastadapt", description="Meta-learning: train, evaluate and adapt.")
    p.add_argument("--version", action="version", version=f"fastadapt {package_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="meta-train a preset")
    t.add_argument("--preset", required=True)
    t.add_argument(
        "--set",
        action="extend",
        nargs="+",
        metavar="KEY=VALUE",
        help="override preset values: --set steps=500 lr=0.002 (repeatable)",
    )
    t.add_argument("--out", help="run folder (default runs/<preset>)")
    keep = t.add_mutually_exclusive_group()
    keep.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    keep.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out: its run files are deleted once the configuration is valid",
    )
    t.add_argument("--data-root", help="folder holding omniglot/ (default $FASTADAPT_DATA or ~/.cache/fastadapt)")
    t.add_argument(
        "--dataset",
        help="train on another data set than the preset's, e.g. folder:DIR for your own "
        "images in DIR/<class>/<images> (split into train / val / test classes)",
    )
    t.add_argument("--json", action="store_true", help="also print the test results as JSON")
    t.set_defaults(fn=_train)
    e = sub.add_parser("eval", help="evaluate a run folder on test episodes")
    e.add_argument("run_dir")
    e.add_argument("--ways", type=int)
    e.add_argument("--shots", type=int)
    e.add_argument("--queries", type=int)
    e.add_argument("--episodes", type=int)
    e.add_argument("--split", default="test", choices=("train", "val", "test"))
    e.add_argument("--within-alphabet", action="store_true", help="draw each episode from one alphabet (Lake 2015)")
    e.add_argument("--diagram", help="write a reliability diagram PNG here")
    e.add_argument(
        "--eval-bn",
        choices=("running", "transductive"),
        help="test-time BatchNorm: running averages (default) or each task's batch statistics, as the "
        "released code of Sung 2018 and Gordon 2019 tests (ProtoNet, Relation, VERSA)",
    )
    e.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="fine-tune the encoder on each support set first (Hu 2022, P>M>F), this many Adam steps",
    )
    e.add_argument("--finetune-lr", type=float, default=1e-4, help="learning rate of that fine-tuning")
    e.add_argument(
        "--dataset",
        help="test on another data set than the run's (cross-domain), e.g. flowers102-partial for a mini-ImageNet run",
    )
    e.add_argument("--device", default="auto")
    e.add_argument("--data-root")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument(
        "--latency-tasks",
        type=int,
        default=20,
        help="time learner.adapt on this many single tasks and report ms per task (0: skip)",
    )
    e.set_defaults(fn=_eval)
    c = sub.add_parser(
        "calibrate",
        help="fit a run's temperature (Guo 2017) so that its probabilities are calibrated; eval and adapt apply it",
    )
    c.add_argument("run_dir")
    c.add_argument(
        "--split",
        default="val",
        choices=("val", "test"),
        help="the classes to fit on: val (default), or test for a test-only data set (with other episodes than "
        "fastadapt eval's)",
    )
    c.add_argument("--episodes", type=int, default=300)
    c.add_argument("--ways", type=int)
    c.add_argument("--shots", type=int)
    c.add_argument(
        "--seed", type=int, help="which episodes (default: the run's eval_seed on val, eval_seed + 1 on test)"
    )
    c.add_argument("--dataset", help="fit on another data set than the run's, e.g. flowers102-partial --split test")
    c.add_argument("--device", default="auto")
    c.add_argument("--data-root")
    c.set_defaults(fn=_calibrate)
    d = sub.add_parser("adapt", help="classify your own images from a few labelled examples")
    d.add_argument("run_dir")
    d.add_argument("--support", required=True, help="folder with one sub-folder of images per class")
    d.add_argument("--query", required=True, help="folder of images to classify")
    d.add_argument("--json", metavar="FILE", help="also write the predictions as JSON")
    d.add_argument(
        "--sheet",
        metavar="PNG",
        help="write a contact sheet: support images per class, each query with its predicted class and probability",
    )
    d.add_argument(
        "--fit",
        choices=("stretch", "crop"),
        default="stretch",
        help="how photos meet the model's square input: resize ignoring the aspect ratio (as "
        "mini-ImageNet was built; default) or centre-crop the largest square first",
    )
    d.set_defaults(fn=_adapt)
    b = sub.add_parser("bench", help="run a benchmark spec: train its preset, test, compare with the papers")
    b.add_argument("spec", nargs="+", help="TOML specs, e.g. benchmarks/specs/mini-imagenet-protonet.toml")
    b.add_argument("--no-train", action="store_true", help="only test the spec's existing run folder")
    b.add_argument("--resume", action="store_true", help="continue the spec's interrupted run")
    b.add_argument("--out", help="the results file (default results/bench/<name>.json)")
    b.add_argument(
        "--check", action="store_true", help="re-test and require the numbers of the results file already there"
    )
    b.set_defaults(fn=_bench)
    sub.add_parser("presets", help="list presets").set_defaults(fn=_presets)
    g = sub.add_parser("data", help="prepare and verify a dataset")
    g.add_argument("name", choices=("omniglot", "mini-imagenet", "flowers", "flowers102-partial", "folder"))
    g.add_argument("path", nargs="?", help="folder: your image folder DIR, one sub-folder of images per class")
    g.add_argument("--data-root")
    g.add_argument("--size", type=int, help="image side in pixels (default 28 for omniglot, 84 for folder)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=3, help="folder: 3 (RGB) or 1 (grayscale)")
    g.set_defaults(fn=_data)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reuse_freed_memory()  # CPU steps no longer page-fault (fastadapt.cpu_memory)
    try:
        args.fn(args)
    except (ValueError, KeyError, OSError, RuntimeError) as e:  # what a user's input or machine can cause
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"fastadapt {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastadapt {args.command}: interrupted (a training run resumes with --resume)", file=sys.stderr)
        return 130
    except Exception:  # anything else is a bug of ours
        traceback.print_exc()
        print(
            f"fastadapt {args.command}: internal error in fastadapt {package_version()}, not caused by your input: "
            f"please report it on fastadapt's issue tracker with the command you ran and the traceback above",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
