"""Calibration metrics (train/calibration.py) against values computed by hand."""

import math

import pytest
import torch

from fastadapt.train.calibration import brier, ece, nll, reliability, reliability_diagram

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
