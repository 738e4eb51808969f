"""Plots written by training runs (matplotlib, Agg backend: no display needed) and the contact sheet of an adapted
task (Pillow)."""

from __future__ import annotations

import os


def learning_curve(metrics_jsonl: str | os.PathLike, path: str | os.PathLike, title: str = "") -> None:
    """Training loss and accuracy (meta-RL: the average return before and after adaptation), and the validation
    score, against the step. The loss axis is logarithmic when every loss is positive (a surrogate objective, as in
    meta-RL, can be negative)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .run_log import read_log

    rows = read_log(metrics_jsonl)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    steps = [r["step"] for r in rows if "loss" in r]
    losses = [r["loss"] for r in rows if "loss" in r]
    a1.plot(steps, losses)
    a1.set(
        xlabel="step",
        ylabel="meta-training loss",
        yscale="log" if min(losses, default=1) > 0 else "linear",
        title=title,
    )
    for key, label in (("acc", "train"), ("return_pre", "before adaptation"), ("return_post", "after adaptation")):
        if any(key in r for r in rows):
            a2.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=label)
    rl = any("return_post" in r for r in rows)
    val = [r for r in rows if "val_score" in r]
    key = "val_acc" if val and "val_acc" in val[0] else "val_score"
    if val:
        a2.errorbar(
            [r["step"] for r in val],
            [r[key] for r in val],
            yerr=[r["val_ci95"] for r in val],
            marker="o",
            label="validation",
        )
    a2.set(
        xlabel="step", ylabel="accuracy" if key == "val_acc" else "average return" if rl else "validation score (-MSE)"
    )
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def contact_sheet(
    support_x,
    support_y,
    classes: list[str],
    query_x,
    predicted,
    probability,
    path: str | os.PathLike,
    max_queries: int = 40,
    truth: list[str | None] | None = None,
    cell: int = 96,
) -> None:
    """A PNG of an adapted task: one row of support images per class, then the queries, each titled with its
    predicted class and probability (green when it matches the query's known class in ``truth``, red when not).
    Images are ``[N, C, H, W]`` tensors in [0, 1] (one channel shown in gray). Drawn with Pillow alone (a grid of
    pasted thumbnails), so `fastadapt adapt --sheet` costs milliseconds, not a plotting library's start-up."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=11)
    label, pad, top = 16, 6, 26
    shots = max(int((support_y == c).sum()) for c in range(len(classes)))
    n_q = min(len(query_x), max_queries)
    cols = max(shots, 8)
    rows = len(classes) + -(-n_q // cols)
    sheet = Image.new("RGB", (pad + cols * (cell + pad), top + rows * (cell + label + pad)), "white")
    draw = ImageDraw.Draw(sheet)

    def show(row: int, col: int, img, title: str, colour: str = "black", suffix: str = "") -> None:
        arr = (img.float().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        pic = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).convert("RGB").resize((cell, cell))
        x, y = pad + col * (cell + pad), top + row * (cell + label + pad)
        sheet.paste(pic, (x, y + label))
        if suffix:  # a query's title: shorten the class name, keep the probability
            while len(title) > 1 and draw.textlength(f"{title} {suffix}", font=font) > cell + pad:
                title = title[:-1]
            title = f"{title} {suffix}"
        draw.text((x, y + 2), title, fill=colour, font=font)

    for c, name in enumerate(classes):
        for j, i in enumerate((support_y == c).nonzero().flatten().tolist()):
            show(c, j, support_x[i], f"support: {name}" if j == 0 else "")  # the row's label spans its cells
    for k in range(n_q):
        known = truth[k] if truth else None
        colour = "black" if known is None else ("green" if known == classes[int(predicted[k])] else "red")
        show(
            len(classes) + k // cols,
            k % cols,
            query_x[k],
            classes[int(predicted[k])],
            colour,
            f"{float(probability[k]):.2f}",
        )
    draw.text(
        (pad, 6),
        "support set (rows) and queries with predicted class and probability"
        + (" (green: right, red: wrong)" if truth else ""),
        fill="black",
        font=font,
    )
    sheet.save(path)
