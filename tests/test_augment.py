import pytest
import torch

from fastadapt.tasks.augment import random_translate


def test_each_image_moves_by_whole_pixels_with_zeros_shifted_in():
    x = torch.zeros(6, 3, 1, 12, 12)
    x[..., 4:8, 3:9] = torch.rand(6, 3, 1, 4, 6) + 0.5     # ink away from the border: nothing leaves the frame
    out = random_translate(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    moves = set()
    for img, moved in zip(x.reshape(-1, 12, 12), out.reshape(-1, 12, 12)):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(torch.roll(img, (dy, dx), (0, 1)), moved)]
        assert len(found) == 1                              # exactly one translation explains the output
        moves.add(found[0])
    assert len(moves) > 3                                   # offsets are drawn per image


def test_content_at_the_border_is_cut_not_wrapped():
    x = torch.zeros(200, 1, 5, 5)
    x[:, :, :, 0] = 1.0                                     # a line of ink on the left edge
    out = random_translate(x, 1, torch.Generator().manual_seed(1))
    assert torch.all(out[:, :, :, -1] == 0)                 # a shift left drops the line, never wraps it round
    kept = set(out.sum((1, 2, 3)).tolist())
    assert kept == {0.0, 4.0, 5.0}                          # dropped (moved left), cut by a row, or whole


def test_no_shift_is_identity_and_negative_is_an_error():
    x = torch.rand(2, 1, 8, 8)
    assert random_translate(x, 0) is x
    with pytest.raises(ValueError, match="max_shift"):
        random_translate(x, -1)


def test_same_generator_seed_gives_the_same_batch():
    x = torch.rand(4, 1, 10, 10)
    a = random_translate(x, 3, torch.Generator().manual_seed(5))
    b = random_translate(x, 3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
