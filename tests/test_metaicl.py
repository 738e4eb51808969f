import json
import random

import pytest
import torch

pytest.importorskip("transformers")

from fastadapt.presets import apply_overrides, get_preset  # noqa: E402
from fastadapt.tasks.text_tasks import load_task, write_task  # noqa: E402
from fastadapt.text.metaicl import (  # noqa: E402
    PromptBuilder,
    PromptFormat,
    continuation_logprobs,
    load_causal_lm,
    make_tiny_lm,
    option_scores,
)
from fastadapt.train.run_log import read_log  # noqa: E402
from fastadapt.train.trainer import load_run, train  # noqa: E402

OPTS = ["positive", "negative"]
DEMOS = [
    {"input": "good movie", "output": "positive", "options": OPTS},
    {"input": "bad film", "output": "negative", "options": OPTS},
]
QUERY = {"input": "great movie", "output": "positive", "options": OPTS}
NL = "\n"


@pytest.fixture
def tiny(tmp_path, no_network):
    texts = [d["input"] for d in DEMOS] + [QUERY["input"]] + OPTS
    return make_tiny_lm(tmp_path / "lm", texts, n_layer=1, n_embd=16, n_head=2, n_positions=64)


def toks(tok, ids):
    return tok.convert_ids_to_tokens(ids)


def test_direct_prompt_is_exact(tiny):
    _, tok = tiny
    prefix, cont = PromptBuilder(tok, PromptFormat("direct"), 64).build(DEMOS, QUERY["input"], "negative")
    assert toks(tok, prefix) == [
        "good",
        "movie",
        NL,
        "positive",
        NL,
        NL,
        NL,
        "bad",
        "film",
        NL,
        "negative",
        NL,
        NL,
        NL,
        "great",
        "movie",
        NL,
    ]
    assert toks(tok, cont) == ["negative"]


def test_channel_prompt_is_exact(tiny):
    _, tok = tiny
    prefix, cont = PromptBuilder(tok, PromptFormat("channel"), 64).build(DEMOS, QUERY["input"], "positive")
    assert toks(tok, prefix) == [
        "positive",
        NL,
        "good",
        "movie",
        NL,
        NL,
        NL,
        "negative",
        NL,
        "bad",
        "film",
        NL,
        NL,
        NL,
        "positive",
        NL,
    ]
    assert toks(tok, cont) == ["great", "movie"]


def test_truncation_to_example_and_context_length(tiny):
    _, tok = tiny
    b = PromptBuilder(tok, PromptFormat("direct", max_example_tokens=1), 8)
    prefix, cont = b.build(DEMOS, QUERY["input"], "positive")
    # inputs cut to one token; then the oldest tokens are dropped so prompt + continuation = 8 tokens
    assert toks(tok, prefix) == [NL, "bad", NL, "negative", NL, NL, NL, "great", NL][-7:]
    assert len(prefix) + len(cont) == 8 and toks(tok, cont) == ["positive"]
    with pytest.raises(ValueError, match="does not fit the context"):
        PromptBuilder(tok, PromptFormat("channel"), 2).build(DEMOS, QUERY["input"], "positive")
    with pytest.raises(ValueError, match="method must be one of"):
        PromptFormat("noisy")


def test_option_scores_equal_unpadded_log_probs(tiny):
    model, tok = tiny
    for method in ("direct", "channel"):
        b = PromptBuilder(tok, PromptFormat(method), 64)
        scores = option_scores(model, b, DEMOS, QUERY)
        for j, o in enumerate(OPTS):
            p, c = b.build(DEMOS, QUERY["input"], o)
            with torch.no_grad():
                lp = model(input_ids=torch.tensor([p + c])).logits[0].log_softmax(-1)
            manual = sum(lp[len(p) - 1 + i, t] for i, t in enumerate(c)) / len(c)
            assert abs(float(scores[j]) - float(manual)) < 1e-5
    # padding: scoring a short and a long pair together equals scoring each alone
    pairs = [([1, 3], [4]), ([3, 4, 5, 3, 4], [5, 3])]
    with torch.no_grad():
        both = continuation_logprobs(model, pairs, tok.pad_token_id)
        alone = torch.cat([continuation_logprobs(model, [pr], tok.pad_token_id) for pr in pairs])
    assert torch.allclose(both, alone, atol=1e-5)


def test_tiny_gpt2_meta_trains_on_the_one_trainer_and_loads_from_path(tmp_path, no_network):
    """MetaICL (Min 2022) is a learner like any other: `fastadapt train --preset metaicl` meta-trains a local LM."""
    # Tasks: "<word> <word>" -> label given by a per-task rule; the label set is the task's options.
    rng = random.Random(0)
    words = [f"w{i}" for i in range(12)]
    tasks = {}
    for t in range(4):
        opts = [f"l{t}a", f"l{t}b"]
        tasks[f"t{t}"] = [
            {"input": f"{a} {b}", "output": opts[(words.index(a) + t) % 2], "options": opts}
            for a, b in (rng.sample(words, 2) for _ in range(40))
        ]
        write_task(tmp_path / f"t{t}.jsonl", tasks[f"t{t}"])
    assert load_task(tmp_path / "t0.jsonl") == tasks["t0"]
    texts = [e["input"] for ex in tasks.values() for e in ex] + [o for ex in tasks.values() for o in ex[0]["options"]]
    make_tiny_lm(tmp_path / "lm", texts, n_layer=1, n_embd=32, n_head=2, n_positions=128)
    model, _ = load_causal_lm(tmp_path / "lm")  # any local path, no network
    cfg = apply_overrides(
        get_preset("metaicl"),
        [f"model_path={tmp_path / 'lm'}", f"tasks_dir={tmp_path}", "train_tasks=t1,t2,t3", "test_tasks=t0"]
        + ["shots=4", "train_shots=4", "steps=40", "lr=3e-3", "log_every=5", "ckpt_every=20", "val_every=20"]
        + ["val_episodes=2", "eval_episodes=3", "queries=4", "max_example_tokens=256", "device=cpu"],
    )
    res = train(cfg, tmp_path / "run", progress=False)
    losses = [r["loss"] for r in read_log(tmp_path / "run" / "metrics.jsonl")]
    assert losses[-1] < 0.75 * losses[0]  # about 3.0 -> 1.9
    assert 0 <= res["accuracy"] <= 1 and res["episodes"] == 3
    learner, _ = load_run(tmp_path / "run")
    trained = dict(learner.model.named_parameters())
    assert any(not torch.equal(trained[k], v) for k, v in model.named_parameters())


def test_jsonl_errors(tmp_path):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"input": "x", "output": "z", "options": ["a"]}) + "\n")
    with pytest.raises(ValueError, match="must be one of the options"):
        load_task(tmp_path / "bad.jsonl")
    (tmp_path / "bad2.jsonl").write_text("{nope\n")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_task(tmp_path / "bad2.jsonl")
    with pytest.raises(FileNotFoundError, match="No model folder"):
        load_causal_lm(tmp_path / "missing")
