"""Plots written by training runs (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import os


def learning_curve(metrics_jsonl: str | os.PathLike, path: str | os.PathLike, title: str = "") -> None:
    """Training loss and accuracy, and validation accuracy, against the step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .run_log import read_log
    rows = read_log(metrics_jsonl)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    steps = [r["step"] for r in rows if "loss" in r]
    a1.plot(steps, [r["loss"] for r in rows if "loss" in r])
    a1.set(xlabel="step", ylabel="meta-training loss", yscale="log", title=title)
    if any("acc" in r for r in rows):
        a2.plot([r["step"] for r in rows if "acc" in r], [r["acc"] for r in rows if "acc" in r], label="train")
    val = [r for r in rows if "val_score" in r]
    key = "val_acc" if val and "val_acc" in val[0] else "val_score"
    if val:
        a2.errorbar([r["step"] for r in val], [r[key] for r in val], yerr=[r["val_ci95"] for r in val],
                    marker="o", label="validation")
    a2.set(xlabel="step", ylabel="accuracy" if key == "val_acc" else "validation score (-MSE)")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
