import json

import pytest
import torch

pytest.importorskip("transformers")

from fastadapt.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from fastadapt.configs import build_learner  # noqa: E402
from fastadapt.learners.metaicl import PAD_SCORE  # noqa: E402
from fastadapt.tasks import build_sampler  # noqa: E402
from fastadapt.text.metaicl import make_tiny_lm  # noqa: E402


@pytest.fixture
def setup(tmp_path):
    tasks = {
        "colors": (["red", "blue", "green"], [f"c{i}" for i in range(10)]),
        "sizes": (["big", "small"], [f"s{i}" for i in range(10)]),
        "moods": (["happy", "sad"], [f"m{i}" for i in range(10)]),
    }
    for name, (opts, words) in tasks.items():
        rows = [{"input": f"{w} thing", "output": opts[i % len(opts)], "options": opts} for i, w in enumerate(words)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = [f"{w} thing" for _, ws in tasks.values() for w in ws] + [o for os_, _ in tasks.values() for o in os_]
    make_tiny_lm(tmp_path / "lm", texts, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    cfg = {
        "dataset": "text-tasks",
        "method": "metaicl",
        "tasks_dir": str(tmp_path),
        "train_tasks": "colors,sizes",
        "test_tasks": "moods",
        "model_path": str(tmp_path / "lm"),
        "metaicl_method": "direct",
        "max_example_tokens": 8,
    }
    return cfg, tmp_path


def test_text_episodes_and_learner_api(setup):
    cfg, tmp = setup
    train = build_sampler(cfg, "train", None, 2, 3, 0)
    test = build_sampler(cfg, "test", None, 2, 3, 0)
    assert train.ways == 3 and test.ways == 2
    b = train.batch(0, 4)
    assert b.support_y.shape == (4, 2) and b.query_y.shape == (4, 3)
    for t in range(4):  # labels are option indices of the outputs
        assert [q["options"].index(q["output"]) for q in b.query_examples[t]] == b.query_y[t].tolist()
    assert {q["input"] for q in b.query_examples[0]}.isdisjoint({d["input"] for d in b.demos[0]})
    assert all(q["output"] in ("happy", "sad") for qs in test.batch(0, 3).query_examples for q in qs)
    assert train.batch(3, 2).demos == train.batch(3, 2).demos  # deterministic
    learner = build_learner(cfg)
    with torch.no_grad():
        logits = learner.predict_batch(b).logits
    assert logits.shape == (4, 3, 3)
    for t in range(4):  # a 2-option task gets a padding logit
        n = len(b.query_examples[t][0]["options"])
        assert (logits[t, :, n:] == PAD_SCORE).all() and (logits[t, :, :n] < 0).all()
    single = learner.adapt(b.demos[0], ways=3).predict(b.query_examples[0]).logits
    assert torch.allclose(single, logits[0], atol=1e-5)
    loss, m = learner.meta_loss(b)
    loss.backward()
    assert m["loss"] > 0 and learner.model.transformer.wte.weight.grad.abs().sum() > 0
    save_checkpoint(tmp / "ck.safetensors", learner, {"step": 1})  # tied GPT-2 embeddings save fine
    other = build_learner(cfg)
    load_checkpoint(tmp / "ck.safetensors", other)
    assert torch.equal(other.model.lm_head.weight, learner.model.lm_head.weight)


def test_errors(setup):
    cfg, _ = setup
    with pytest.raises(ValueError, match="both training and test"):
        build_sampler({**cfg, "test_tasks": "colors"}, "test", None, 2, 3, 0)
    with pytest.raises(ValueError, match="model_path"):
        build_learner({**cfg, "model_path": ""})
    with pytest.raises(ValueError, match="fewer than shots"):
        build_sampler(cfg, "train", None, 8, 3, 0)
