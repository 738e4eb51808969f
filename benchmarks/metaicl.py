"""Benchmark: MetaICL (Min et al., 2022) against plain in-context prompting of the same model, direct and
channel, on CLINC150 domains as tasks (7 training domains, 3 unseen test domains; 15 options each).

No pretrained causal LM can be downloaded here, so this uses a tiny GPT-2 built from a config (word-level
tokenizer over CLINC150 text): first pretrained as a plain language model on unpaired training-domain text
(utterances and intent names, shuffled: no input->label pairs, no prompts) -- the "base" model -- then
meta-trained with MetaICL. Both are tested by the one trainer (`fastadapt train --preset metaicl`: the base model
as a ``steps=0`` run, MetaICL as a meta-trained one) k-shot on the unseen domains with the same episodes (paired).
Any local Hugging Face causal LM can replace the tiny one: --model PATH skips building and pretraining.

    python benchmarks/metaicl.py                     # about an hour on 2 CPU cores
    python benchmarks/metaicl.py --model /path/to/gpt2-large --pretrain-steps 0   # a real LM (GPU advised)
    python benchmarks/metaicl.py --pretrain-steps 20 --steps 20 --episodes 2 --out /tmp/metaicl-smoke
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from fastadapt.presets import apply_overrides, get_preset
from fastadapt.tasks.text_tasks import task_collection
from fastadapt.text.metaicl import make_tiny_lm
from fastadapt.train.run_log import read_log
from fastadapt.train.trainer import git_commit, machine, train

PAPER = (
    "Min et al. 2022 report MetaICL above plain in-context prompting of the same LM (GPT-2 large) in most "
    "of their settings, direct and channel; they measure real LMs, this benchmark a tiny one (stated)."
)


def pretrain_lm(model, tok, texts: list[str], steps: int, batch: int, length: int, lr: float, seed: int) -> list[float]:
    """Plain next-token training on random concatenations of ``texts`` (one per line)."""
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    ids = [tok(t + "\n", add_special_tokens=False)["input_ids"] for t in texts]
    model.train()
    losses = []
    for step in range(steps):
        rows = []
        for _ in range(batch):
            row: list[int] = []
            while len(row) < length:
                row += ids[rng.randrange(len(ids))]
            rows.append(row[:length])
        x = torch.tensor(rows)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            print(f"pretrain step {step + 1}/{steps}: loss {sum(losses[-100:]) / 100:.3f}", flush=True)
    model.eval()
    return losses


def metaicl_config(a: argparse.Namespace, model_path: str, method: str, steps: int) -> dict:
    """The ``metaicl`` preset for this benchmark: k-shot prompts, 10 queries per test episode, 40 episodes per
    unseen domain (120 in all, cycling over the 3 domains)."""
    sets = [f"model_path={model_path}", f"metaicl_method={method}", f"shots={a.k}", f"train_shots={a.k}"]
    sets += [f"steps={steps}", f"meta_batch={a.batch}", f"lr={a.lr}", f"queries={a.queries}", f"seed={a.seed}"]
    sets += [f"eval_episodes={3 * a.episodes}", "device=cpu", "log_every=50", "ckpt_every=100", "val_every=100"]
    cfg = apply_overrides(get_preset("metaicl"), sets)
    if a.data_root:
        cfg["data_root"] = a.data_root
    return cfg


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="", help="a local causal LM folder (default: build a tiny GPT-2)")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--pretrain-steps", type=int, default=1500)
    p.add_argument("--steps", type=int, default=1500, help="MetaICL meta-training steps per variant")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument(
        "--lr", type=float, default=1e-3, help="1e-3 suits the tiny model; Min 2022 use 1e-5 for GPT-2 large"
    )
    p.add_argument("--episodes", type=int, default=40, help="test episodes per unseen task")
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--methods", default="direct,channel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default="")
    p.add_argument("--out", default="results/metaicl")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_tasks, test_tasks = task_collection(metaicl_config(a, "", "direct", 0))
    pre_losses: list[float] = []
    if a.model:
        model_path, model_desc = a.model, a.model
    else:
        all_text = [e["input"] for ts in (train_tasks, test_tasks) for ex in ts.values() for e in ex]
        all_text += [o for ts in (train_tasks, test_tasks) for ex in ts.values() for o in ex[0]["options"]]
        base, tok = make_tiny_lm(None, all_text, n_layer=4, n_embd=128, n_head=4, n_positions=512, seed=a.seed)
        plain = [e["input"] for ex in train_tasks.values() for e in ex] + [
            o for ex in train_tasks.values() for o in ex[0]["options"]
        ] * 20
        pre_losses = pretrain_lm(base, tok, plain, a.pretrain_steps, 16, 128, 1e-3, a.seed)
        model_path = str(out / "base-lm")
        base.save_pretrained(model_path)
        tok.save_pretrained(model_path)
        model_desc = (
            "tiny GPT-2 (4 layers, width 128, word-level vocab), LM-pretrained on unpaired training-domain text"
        )
    results = {}
    for method in a.methods.split(","):
        # plain prompting: the base model tested as it is (a steps=0 run); MetaICL: the same model meta-trained
        plain_res = train(metaicl_config(a, model_path, method, 0), out / f"plain-{method}", overwrite=True)
        meta_res = train(metaicl_config(a, model_path, method, a.steps), out / f"metaicl-{method}", overwrite=True)
        losses = [r["loss"] for r in read_log(out / f"metaicl-{method}" / "metrics.jsonl")]
        keep = {"accuracy", "ci95", "episodes", "nll", "train_seconds", "train_steps"}
        results[method] = {
            "plain_in_context": {k: v for k, v in plain_res.items() if k in keep},
            "metaicl": {k: v for k, v in meta_res.items() if k in keep},
            "meta_train_loss_first_last_log": [losses[0], losses[-1]] if losses else None,
        }
        print(
            f"{method}: plain {100 * plain_res['accuracy']:.2f} +- {100 * plain_res['ci95']:.2f}  "
            f"MetaICL {100 * meta_res['accuracy']:.2f} +- {100 * meta_res['ci95']:.2f}  "
            f"(chance {100 / 15:.1f})",
            flush=True,
        )
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": time.time() - t0,
        "model": model_desc,
        "k": a.k,
        "train_tasks": sorted(train_tasks),
        "test_tasks": sorted(test_tasks),
        "pretrain_steps": a.pretrain_steps,
        "meta_train_steps": a.steps,
        "pretrain_loss_last_100": sum(pre_losses[-100:]) / max(1, len(pre_losses[-100:])) if pre_losses else None,
        "results": results,
        "paper": PAPER,
        "real_llm_measured": bool(a.model),
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
