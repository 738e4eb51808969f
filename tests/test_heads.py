"""learners/heads.py: the logistic-regression head fitted with PyTorch's functional Adam."""

import subprocess
import sys

import torch
import torch.nn.functional as F

from fastadapt.learners.heads import class_means, fit_logistic


def adam_object_fit(z, y, ways, steps=100, lr=0.5, weight_decay=5e-4, scale=10.0):
    """The same fit with a ``torch.optim.Adam`` object, as a user would write it."""
    w = (scale * class_means(z, y, ways)).requires_grad_(True)
    b = torch.zeros(*w.shape[:-1]).requires_grad_(True)
    opt = torch.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        logits = z @ w.transpose(-1, -2) + b.unsqueeze(-2)
        decay = weight_decay * w.square().sum() / w[..., 0, 0].numel()
        loss = F.cross_entropy(logits.reshape(-1, ways), y.reshape(-1)) + decay
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


def test_fit_logistic_is_adam_exactly_and_fits_the_support_set():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(3, 10, 16), dim=-1)
    y = torch.arange(5).repeat(2).expand(3, 10)
    w, b = fit_logistic(z, y, 5)
    w0, b0 = adam_object_fit(z, y, 5)
    assert torch.equal(w, w0) and torch.equal(b, b0)
    logits = z @ w.transpose(-1, -2) + b.unsqueeze(-2)
    assert torch.equal(logits.argmax(-1), y)  # 10 points in 16 dimensions: separable


def test_fit_logistic_does_not_import_the_compiler():
    """An ``Optimizer`` object imports torch._dynamo (about 1 s) on first use; `fastadapt adapt` must not pay it."""
    code = (
        "import sys, torch; from fastadapt.learners.heads import fit_logistic; "
        "fit_logistic(torch.randn(4, 8), torch.arange(4), 4, steps=2); print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
