import torch

from fastadapt.learners.base import Prediction
from fastadapt.train.evaluate import summarize


def test_summarize_classification_ci_and_nll():
    # 4 episodes x 2 queries x 2 classes; episode accuracies 1, 1, 0.5, 0.5
    p = torch.tensor(
        [[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]], [[0.9, 0.1], [0.9, 0.1]], [[0.6, 0.4], [0.6, 0.4]]]
    )
    y = torch.tensor([[0, 1], [0, 1], [0, 1], [0, 1]])
    res = summarize(Prediction(logits=p.log()), y)
    acc = torch.tensor([1, 1, 0.5, 0.5], dtype=torch.float64)
    assert abs(res["accuracy"] - 0.75) < 1e-12
    assert abs(res["ci95"] - 1.96 * float(acc.std()) / 2) < 1e-12
    true_p = torch.tensor([0.9, 0.8, 0.6, 0.7, 0.9, 0.1, 0.6, 0.4], dtype=torch.float64)
    assert abs(res["nll"] - float(-true_p.log().mean())) < 1e-6  # float32 logits


def test_summarize_regression():
    mean = torch.zeros(2, 3)
    y = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    res = summarize(Prediction(mean=mean, var=torch.ones(2, 3)), y)
    assert abs(res["mse"] - 2.5) < 1e-12 and res["score"] == -res["nll"]
    assert summarize(Prediction(mean=mean), y)["score"] == -2.5
    import math

    assert abs(res["nll"] - (0.5 * math.log(2 * math.pi) + 0.5 * 2.5)) < 1e-9
