"""Benchmark: few-shot intent classification on CLINC150's 3 unseen domains (Larson 2019) with the
all-MiniLM-L6-v2 encoder: ProtoNet over the frozen encoder (`frozen`), ProtoNet with the encoder's top
layers fine-tuned episodically (`finetune`), the in-context transformer started as a nearest-neighbour reader
with the encoder's top layers fine-tuned through it (`icl-finetune`), and the in-context transformer over
frozen embeddings (`icl`; its preset is the plain first version, variants via `--set`). Each is meta-trained on the 7
training domains per setting (5w1s, 5w5s,
15w5s), tested on 600 test episodes (accuracy with 95% CI), and scored for out-of-scope detection: AUROC of
the maximum softmax probability of in-scope queries against as many `oos_test` queries per episode.

    python benchmarks/clinc150.py                                  # everything (~2 h on 2 CPU cores)
    python benchmarks/clinc150.py --learners frozen,icl --settings 5w1s
    python benchmarks/clinc150.py --scale 0.02 --episodes 20 --out /tmp/clinc-smoke   # smoke test

Needs `pip install fastadapt[text]`; the first run embeds all 23,700 utterances once (~3 min on 2 cores, cached).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from fastadapt.learners.text_protonet import FinetunedProtoNet, FrozenProtoNet
from fastadapt.presets import apply_overrides, get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.clinc150 import PARTS, ClincEpisodes, domain_split, load_clinc
from fastadapt.train.evaluate import evaluate
from fastadapt.train.ood import oos_auroc
from fastadapt.train.run_log import write_benchmark_record
from fastadapt.train.trainer import git_commit, load_run, machine, train

PRESETS = {
    "frozen": "clinc150-protonet-5w1s",
    "finetune": "clinc150-protonet-finetune-5w1s",
    "icl": "clinc150-icl-5w1s",
    "icl-finetune": "clinc150-icl-finetune-5w1s",
}
FINETUNED = ("finetune", "icl-finetune")  # learners whose encoder trains: tested over embeddings (below)
PAPER = (
    "No published number for this protocol (7 training / 3 unseen domains, MiniLM encoder). Goal (issue 7): "
    "episodic fine-tuning and the in-context learner beat the frozen-encoder ProtoNet; OOS AUROC reported."
)


def setting(s: str) -> tuple[int, int]:
    w, k = s.rstrip("s").split("w")
    return int(w), int(k)


@contextmanager
def test_view(learner, cfg: dict, ways: int, shots: int) -> Iterator[tuple[Any, Any]]:
    """``(learner, sampler)`` for the test episodes. A learner with a fine-tuned encoder is tested fast: the test
    and oos_test utterances are embedded once with its (now fixed) encoder, then the same episodes run over
    those embeddings (identical predictions): a ProtoNet with the learned temperature, or the in-context
    transformer with its embedder swapped for the lookup while the block runs."""
    if cfg.get("clinc_input") != "tokens":  # frozen embeddings: the preset's own sampler
        yield learner, build_sampler(cfg, "test", ways, shots, cfg["queries"], cfg["eval_seed"])
        return
    from fastadapt.text.encoder import embed_texts

    encoder = learner.encoder if isinstance(learner, FinetunedProtoNet) else learner.embedder
    data = load_clinc(cfg["data_root"])
    rows, oos = data.rows(PARTS["test"][0], domain_split(cfg, data)[1]), data.rows(("oos_test",))
    need = torch.cat([rows, oos])
    x = torch.zeros(len(data.texts), encoder.dim)
    x[need] = embed_texts([data.texts[i] for i in need.tolist()], encoder=encoder)
    sampler = ClincEpisodes(x, data, rows, oos, ways, shots, cfg["queries"], cfg["eval_seed"])
    if isinstance(learner, FinetunedProtoNet):
        fixed = FrozenProtoNet()
        fixed.log_scale.data.copy_(learner.log_scale.data)
        yield fixed, sampler
        return
    learner.embedder = torch.nn.Identity()
    try:
        yield learner, sampler
    finally:
        learner.embedder = encoder


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--learners", default="frozen,finetune,icl-finetune,icl")
    p.add_argument("--settings", default="5w1s,5w5s,15w5s")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every training budget (smoke tests)")
    p.add_argument("--episodes", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset value for every learner run, e.g. icl_rotate=true",
    )
    p.add_argument("--suffix", default="", help="appended to the run folders' names (variants of a preset)")
    a = p.parse_args()
    summary = {}
    for st in a.settings.split(","):
        ways, shots = setting(st)
        for name in a.learners.split(","):
            cfg = apply_overrides(get_preset(PRESETS[name]), a.set)
            steps = max(2, int(cfg["steps"] * a.scale))
            cfg.update(
                ways=ways,
                shots=shots,
                train_ways=ways,
                train_shots=shots,
                seed=a.seed,
                steps=steps,
                log_every=1,
                ckpt_every=steps,
                val_every=steps,
                eval_episodes=a.episodes,
                val_episodes=min(cfg["val_episodes"], a.episodes),
            )
            if name.startswith("icl"):
                cfg["icl_max_ways"] = ways
            if name in FINETUNED:  # the trainer's own token-level test is slow: a short one, then the full below
                cfg.update(eval_episodes=min(20, a.episodes), val_episodes=min(20, a.episodes))
            preset = PRESETS[name].replace("5w1s", st) + a.suffix
            cfg["preset"] = preset
            out = Path(a.out) / preset
            if out.exists():
                shutil.rmtree(out)
            t = time.time()
            res = train(cfg, out, progress=False)
            learner, _ = load_run(out)
            with test_view(learner, cfg, ways, shots) as (tested, sampler):
                if name in FINETUNED:
                    res = {**res, **evaluate(tested, sampler, a.episodes)}
                ood = oos_auroc(tested, sampler, a.episodes)
            doc = {
                "command": "python " + " ".join(sys.argv),
                "seed": a.seed,
                "commit": git_commit(),
                "machine": machine(),
                "wall_seconds": time.time() - t,
                "train_seconds": res["train_seconds"],
                "train_steps": steps,
                "preset": preset,
                "ways": ways,
                "shots": shots,
                "test": {k: v for k, v in res.items() if k != "config"},
                **ood,
                "protocol": "test episodes from the 3 unseen domains auto_and_commute, kitchen_and_dining, travel "
                f"({cfg['queries']} queries per class, plus {ways * cfg['queries']} oos_test queries "
                "per episode for AUROC)",
                "paper": PAPER,
            }
            write_benchmark_record(out, doc)
            summary[preset] = {
                "accuracy": res["accuracy"],
                "ci95": res["ci95"],
                "oos_auroc": ood["oos_auroc"],
                "oos_auroc_ci95": ood["oos_auroc_ci95"],
                "train_seconds": res["train_seconds"],
                "command": doc["command"],
                "commit": doc["commit"],
            }
            print(
                f"{preset}: accuracy {100 * res['accuracy']:.2f} +- {100 * res['ci95']:.2f}, OOS AUROC "
                f"{ood['oos_auroc']:.3f} +- {ood['oos_auroc_ci95']:.3f} ({time.time() - t:.0f} s)",
                flush=True,
            )
    write_summary(Path(a.out, f"clinc150-summary{a.suffix}.json"), summary)


def write_summary(path: Path, summary: dict) -> None:
    """Add this invocation's results to the summary file of its suffix (runs of other settings under the same
    suffix stay; each entry names the command and commit that produced it)."""
    merged = {}
    if path.exists():
        old = json.loads(path.read_text())
        merged = {
            k: {"command": old.get("command"), "commit": old.get("commit"), **v} for k, v in old["results"].items()
        }
    merged.update(summary)
    path.write_text(
        json.dumps(
            {
                "commit": git_commit(),
                "machine": machine(),
                "command": "python " + " ".join(sys.argv),
                "note": "top-level command and commit: the latest invocation; each entry has its own",
                "results": merged,
                "paper": PAPER,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
