"""Benchmark: memory-augmented neural network (Santoro et al., 2016) on Omniglot sequences.

Meta-trains the preset omniglot-mann-<N>class into results/<preset>/ (trainer: checkpoints, episodic
test accuracy), then reports Santoro's metric: accuracy at the 1st, 2nd, 3rd, 4th, 5th and 10th
presentation of a class in 1,000 test sequences of N held-out classes x 10 drawings (vinyals split test
characters, with rotations as extra classes), next to the paper's numbers.

Paper reference (Santoro et al., 2016, "One-shot Learning with Memory-Augmented Neural Networks",
ICML, Table 1: Omniglot test-set classification accuracy, 5 classes per episode, one-hot labels):
MANN (LSTM controller) 36.4 / 82.8 / 91.0 / 92.6 / 94.9 / 98.1 % at instances 1 / 2 / 3 / 4 / 5 / 10,
after 100,000 training episodes (images downscaled to 20x20, with translations and rotations;
here rotations by quarter turns are extra classes; translations and small rotations the opt-in
``--set mann_shift=K`` and ``--set mann_rotate=DEGREES``).
Differences here: 28x28 images, vinyals character split (1,028 train / 423 test characters, rotations as
classes), one-hot labels also for 15 classes (the paper uses 5-character string labels there), and a
CPU-sized training budget unless --full.

    python benchmarks/mann_omniglot.py --classes 5                        # preset budget (CPU)
    python benchmarks/mann_omniglot.py --classes 5 --full                 # 100,000 episodes (paper)
    python benchmarks/mann_omniglot.py --classes 5 --full --meta-batch 64 --minutes 6   # GPU: paper's episodes, capped
    python benchmarks/mann_omniglot.py --classes 5 --steps 20 --episodes 50 --results /tmp/r   # smoke test
    python benchmarks/mann_omniglot.py --classes 5 --full --set image_size=20 --tag=-20px  # Santoro's 20x20 images
    python benchmarks/mann_omniglot.py ... --steps 28000 --tag=-longer --from-run results/X   # extend run X
    # more training with Santoro's translation augmentation (random shifts of up to 1 pixel), from a trained run
    python benchmarks/mann_omniglot.py --classes 5 --meta-batch 32 --steps 4500 --set image_size=20 \
        --set init_from=results/omniglot-mann-5class-full-20px-896k --set lr=2.5e-4 --set lr_decay_every=1500 \
        --set mann_shift=1 --tag=-20px-896k-shift1-144k
    # 15 classes by curriculum: 15 label units trained on 5-class sequences, then on 15-class ones
    python benchmarks/mann_omniglot.py --classes 5 --meta-batch 32 --steps 4000 --set image_size=20 \
        --set mann_max_ways=15 --tag=-20px-units15
    python benchmarks/mann_omniglot.py --classes 15 --meta-batch 32 --minutes 40 --set image_size=20 \
        --set init_from=results/omniglot-mann-5class-20px-units15 --tag=-20px-from5class
    # the controller and memory over a frozen Conv4 taken from a trained Prototypical Network (not the paper's
    # pixel input: the encoder is learned by another method on the same training characters)
    python benchmarks/mann_omniglot.py --classes 5 --meta-batch 32 --steps 3000 --set mann_encoder=conv4 \
        --set mann_freeze_encoder=true --set encoder_from=results/omniglot-protonet-5w1s-gpu-full \
        --set lr_decay_every=2000 --tag=-protonet-conv4-frozen-96k
    # ... and that run extended to 6,000 batches: the same command with
    #     --steps 6000 --from-run results/omniglot-mann-5class-conv4-protonet-conv4-frozen-96k \
    #     --tag=-protonet-frozen-192k
    # ... then 96,000 more sequences with 256 slots and shift / rotation augmentation: the same frozen-encoder keys with
    #     --steps 3000 --set init_from=results/omniglot-mann-5class-conv4-protonet-frozen-192k --set lr=2.5e-4
    #     --set lr_decay_every=1500 --set mann_slots=256 --set mann_shift=2 --set mann_rotate=10
    #     --tag=-protonet-frozen-then-slots256-shift2-rot10-96k
    # the same three stages with a memory word of 80 instead of 40: add --set mann_width=80 to each, with the tags
    #     -protonet-frozen-width80-96k, -protonet-frozen-width80-192k (--from-run the first) and
    #     -protonet-frozen-width80-then-slots256-shift2-rot10-96k (--set init_from=the second)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from fastadapt.learners.mann import instance_accuracy
from fastadapt.presets import apply_overrides, get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.sequence import omniglot_sequences
from fastadapt.train.budget import steps_for_budget
from fastadapt.train.evaluate import adaptation_latency_ms
from fastadapt.train.run_log import write_benchmark_record
from fastadapt.train.trainer import git_commit, hardware, load_run, machine, train

INSTANCES = (1, 2, 3, 4, 5, 10)
PAPER = {5: {"1": 36.4, "2": 82.8, "3": 91.0, "4": 92.6, "5": 94.9, "10": 98.1}}  # Santoro 2016, Table 1
PAPER_NOTE = (
    "Santoro et al. 2016, Table 1 (MANN, LSTM controller, 5 classes, one-hot labels, Omniglot test "
    "classes, 100,000 training episodes). The 15-class numbers (Table 2, string labels) are not "
    "compared here."
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--classes", type=int, choices=(5, 15), default=5)
    p.add_argument("--steps", type=int, help="meta-batches of 16 sequences (default: the preset's)")
    p.add_argument("--full", action="store_true", help="Santoro's budget: 100,000 episodes (6,250 batches of 16)")
    p.add_argument("--encoder", choices=("pixels", "conv4"), help="controller input (default: preset, pixels)")
    p.add_argument(
        "--minutes",
        type=float,
        help="training budget on this machine: a probe sets the steps (with "
        "--full: at most the paper's 100,000 episodes)",
    )
    p.add_argument(
        "--meta-batch",
        type=int,
        help="sequences per batch (default: the preset's 16); with --full the "
        "number of batches is scaled so the run still sees 100,000 episodes",
    )
    p.add_argument(
        "--write",
        choices=("add", "key"),
        help="memory write vector (default: preset, a separate add "
        "vector; 'key' writes the read key, Santoro's eq. 8 literally)",
    )
    p.add_argument("--episodes", type=int, default=1000, help="test sequences for the instance accuracies")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset value")
    p.add_argument("--tag", default="", help="appended to the run folder's name (variants trained with --set)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run folder's training from its last "
        "checkpoint (after a crash, or with a larger --steps to extend it) instead of starting over",
    )
    p.add_argument(
        "--from-run",
        metavar="DIR",
        help="extend the finished run in DIR: copy its checkpoints and log "
        "into this run's folder and resume there with this command's (larger) --steps",
    )
    p.add_argument("--results", default="results")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    preset = f"omniglot-mann-{a.classes}class"
    cfg = apply_overrides(get_preset(preset), a.set)
    cfg["seed"] = a.seed
    if a.meta_batch:
        cfg["meta_batch"] = a.meta_batch
    if a.full:
        cfg.update(steps=100_000 // cfg["meta_batch"], val_every=500, ckpt_every=500)
    if a.encoder:
        cfg["mann_encoder"] = a.encoder
    if a.write:
        cfg["mann_write"] = a.write
    step_s = None
    if a.minutes:
        fit, step_s = steps_for_budget(cfg, 60 * a.minutes, fraction=0.85, multiple=cfg["log_every"])
        cfg["steps"] = min(cfg["steps"], fit) if a.full else fit
    if a.steps:
        cfg["steps"] = a.steps
        cfg["eval_episodes"] = min(cfg["eval_episodes"], a.episodes)
        cfg["val_episodes"] = min(cfg["val_episodes"], a.episodes)
    steps = cfg["steps"]
    cfg["val_every"] = min(cfg["val_every"], steps)
    cfg["log_every"] = min(cfg["log_every"], steps)
    cfg["ckpt_every"] = cfg["log_every"] * max(1, min(cfg["ckpt_every"], steps) // cfg["log_every"])
    variant = "".join(
        f"-{v}"
        for v, default in ((cfg["mann_encoder"], "pixels"), (cfg.get("mann_write", "add"), "add"))
        if v != default
    )
    full = a.full and cfg["steps"] * cfg["meta_batch"] >= 100_000
    budget = f"-{hardware().lower()}{a.minutes:g}min" if a.minutes and not full else ""
    out = Path(a.results) / (
        preset + variant + ("-full" if full else "") + budget + ("-gpu" if full and hardware() == "GPU" else "") + a.tag
    )
    if a.from_run:
        if out.exists():
            sys.exit(f"{out} exists; remove it, or continue it with --resume instead of --from-run.")
        skip = shutil.ignore_patterns("results.json", "benchmark.json", "summary.txt", "*.png")
        shutil.copytree(a.from_run, out, ignore=skip)
    elif out.exists() and not a.resume:
        shutil.rmtree(out)
    t = time.time()
    episodic = train(cfg, out, resume=a.resume or bool(a.from_run))
    learner, _ = load_run(out)
    seqs = omniglot_sequences(cfg, "test", a.classes, 10, seed=cfg["eval_seed"])
    inst = instance_accuracy(learner, seqs, a.episodes, instances=INSTANCES)
    latency = adaptation_latency_ms(learner, build_sampler(cfg, "test", a.classes, 1, 9, cfg["eval_seed"]), 20)
    wall = time.time() - t
    paper = PAPER.get(a.classes)
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": wall,
        "preset": preset,
        "train_steps": cfg["steps"],
        "train_episodes": cfg["steps"] * cfg["meta_batch"],
        "train_seconds": episodic["train_seconds"],
        "continued_from": a.from_run,
        "init_from": cfg["init_from"] or None,
        "budget_minutes": a.minutes,
        "probe_step_seconds": step_s,
        "protocol": f"{a.classes} classes x 10 drawings per test sequence (length {10 * a.classes}), "
        f"{a.episodes} sequences, held-out (test) Omniglot characters; encoder {cfg['mann_encoder']}, "
        f"memory write vector {cfg.get('mann_write', 'add')!r}, meta-batch {cfg['meta_batch']}, "
        f"{cfg['image_size']}x{cfg['image_size']} images",
        "overrides": a.set,
        "instance_accuracy": {
            k: {**v, "accuracy_pct": 100 * v["accuracy"]} if isinstance(v, dict) else v for k, v in inst.items()
        },
        "paper_instance_accuracy_pct": paper,
        "paper": PAPER_NOTE,
        "episodic_test": {k: v for k, v in episodic.items() if k in ("accuracy", "ci95", "nll", "ece", "episodes")},
        "adaptation_latency": latency,
    }
    write_benchmark_record(out, doc)
    row = " / ".join(f"{100 * inst[str(k)]['accuracy']:.1f}" for k in INSTANCES)
    ref = " / ".join(f"{paper[str(k)]:.1f}" for k in INSTANCES) if paper else "n/a"
    print(
        f"{preset}: instances {INSTANCES}: {row} % (paper {ref}); "
        f"adapt {latency['adapt_ms']:.1f} ms/task; wrote {out / 'benchmark.json'}"
    )


if __name__ == "__main__":
    main()
