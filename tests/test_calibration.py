"""Calibration metrics (train/calibration.py) against values computed by hand."""

import math

import pytest
import torch

from fastadapt.train.calibration import brier, ece, fit_temperature, nll, reliability, reliability_diagram

# Four predictions over two classes. Confidences 0.95 (right), 0.95 (wrong), 0.62 (right), 0.70 (right);
# with 15 equal-width bins they fall in bins 14, 14, 9 and 10.
PROBS = torch.tensor([[0.95, 0.05], [0.05, 0.95], [0.62, 0.38], [0.30, 0.70]], dtype=torch.float64)
LABELS = torch.tensor([0, 0, 0, 1])


def test_ece_hand_computed():
    # bin 14: 2 of 4 samples, accuracy 0.5, confidence 0.95 -> 0.5 * 0.45 = 0.225
    # bin  9: 1 of 4, accuracy 1, confidence 0.62            -> 0.25 * 0.38 = 0.095
    # bin 10: 1 of 4, accuracy 1, confidence 0.70            -> 0.25 * 0.30 = 0.075
    assert ece(PROBS, LABELS) == pytest.approx(0.395, abs=1e-12)


def test_ece_with_fewer_bins_and_batch_dims():
    # One bin: |mean accuracy - mean confidence| = |0.75 - 0.805| = 0.055.
    assert ece(PROBS, LABELS, bins=1) == pytest.approx(0.055, abs=1e-12)
    assert ece(PROBS.reshape(2, 2, 2), LABELS.reshape(2, 2)) == pytest.approx(0.395, abs=1e-12)


def test_perfectly_calibrated_is_zero():
    probs = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=torch.float64)
    assert ece(probs, torch.tensor([0, 1])) == pytest.approx(0.0)  # argmax 0: one right, one wrong


def test_reliability_bins():
    count, conf, acc = reliability(PROBS, LABELS)
    assert count.tolist() == [0] * 9 + [1, 1, 0, 0, 0, 2]
    assert conf[14] == pytest.approx(0.95) and acc[14] == pytest.approx(0.5)


def test_nll_and_brier_hand_computed():
    assert nll(PROBS, LABELS) == pytest.approx(-(math.log(0.95) + math.log(0.05) + math.log(0.62) + math.log(0.7)) / 4)
    # per sample: 2 * 0.05^2, 2 * 0.95^2, 2 * 0.38^2, 2 * 0.3^2
    assert brier(PROBS, LABELS) == pytest.approx((0.005 + 1.805 + 0.2888 + 0.18) / 4)


def test_reliability_diagram_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rel.png"
    reliability_diagram(PROBS, LABELS, out, title="hand example")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("true_t", [0.5, 2.0, 4.0])
def test_fit_temperature_recovers_the_temperature_labels_were_drawn_at(true_t):
    """Labels drawn from softmax(z / T0): the fitted T is T0 up to sampling noise (20,000 draws), and it is the NLL's
    minimum (a 2% step either way raises the NLL); the fit ignores a shift of the logits."""
    g = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(20000, 5, generator=g, dtype=torch.float64)
    y = torch.multinomial((z / true_t).softmax(-1), 1, generator=g).squeeze(1)
    t = fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.05)

    def loss(temp):
        return nll((z / temp).softmax(-1), y)

    assert loss(t) < min(loss(1.02 * t), loss(t / 1.02))
    assert fit_temperature(z + 7.0, y) == pytest.approx(t, rel=1e-9)


def test_fit_temperature_edge_cases():
    z = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert fit_temperature(z, torch.tensor([0, 1])) < 0.1  # all right: sharper is always better
    assert fit_temperature(z, torch.tensor([1, 0])) > 1e4  # all wrong: flatter is always better
    with pytest.raises(ValueError, match="one label per prediction"):
        fit_temperature(z, torch.tensor([0]))


def test_learners_apply_the_calibration_temperature_at_test_time_only_and_once():
    """ProtoNet's test-time logits (one task's predict, and predict_batch on both BatchNorm protocols, whose
    transductive path goes through adapt) are divided by calibration_temperature exactly once; training is not."""
    from fastadapt import ProtoNet, TaskBatch
    from fastadapt.nn.conv4 import Conv4

    torch.manual_seed(0)
    learner = ProtoNet(Conv4(in_channels=1, hidden=8)).eval()
    g = torch.Generator().manual_seed(1)
    sx, qx = torch.randn(2, 3, 1, 28, 28, generator=g), torch.randn(2, 4, 1, 28, 28, generator=g)
    sy = torch.arange(3).repeat(2, 1)
    batch = TaskBatch(sx, sy, qx, torch.zeros(2, 4, dtype=torch.long), 3)
    with torch.no_grad():
        raw_one = learner.adapt(sx[0], sy[0]).predict(qx[0]).logits
        raw = {bn: learner.set_eval_bn(bn) or learner.predict_batch(batch).logits for bn in ("running", "transductive")}
        learner.calibration_temperature = 2.5
        learner.set_eval_bn("running")
        assert torch.allclose(learner.adapt(sx[0], sy[0]).predict(qx[0]).logits, raw_one / 2.5)
        for bn, logits in raw.items():
            learner.set_eval_bn(bn)
            pred = learner.predict_batch(batch)
            assert torch.allclose(pred.logits, logits / 2.5, atol=1e-6) and pred.temperature == 2.5, bn
        learner.train()
        assert learner.adapt(sx[0], sy[0]).predict(qx[0]).temperature == 1.0
