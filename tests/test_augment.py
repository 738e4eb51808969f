import pytest
import torch

from fastadapt.tasks.augment import random_rotate, random_translate


def test_each_image_moves_by_whole_pixels_with_zeros_shifted_in():
    x = torch.zeros(6, 3, 1, 12, 12)
    x[..., 4:8, 3:9] = torch.rand(6, 3, 1, 4, 6) + 0.5  # ink away from the border: nothing leaves the frame
    out = random_translate(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    moves = set()
    for img, moved in zip(x.reshape(-1, 12, 12), out.reshape(-1, 12, 12)):
        found = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(torch.roll(img, (dy, dx), (0, 1)), moved)
        ]
        assert len(found) == 1  # exactly one translation explains the output
        moves.add(found[0])
    assert len(moves) > 3  # offsets are drawn per image


def test_content_at_the_border_is_cut_not_wrapped():
    x = torch.zeros(200, 1, 5, 5)
    x[:, :, :, 0] = 1.0  # a line of ink on the left edge
    out = random_translate(x, 1, torch.Generator().manual_seed(1))
    assert torch.all(out[:, :, :, -1] == 0)  # a shift left drops the line, never wraps it round
    kept = set(out.sum((1, 2, 3)).tolist())
    assert kept == {0.0, 4.0, 5.0}  # dropped (moved left), cut by a row, or whole


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


def _centroids(img):
    """(row, col) centroid of each quadrant's ink of a [H, W] image, measured from the image centre."""
    h, w = img.shape
    r, c = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype), indexing="ij")
    out = []
    for rows, cols in ((slice(0, h // 2), slice(w // 2 + 1, w)), (slice(h // 2 + 1, h), slice(0, w // 2))):
        m = img[rows, cols]
        out.append(
            ((m * r[rows, cols]).sum() / m.sum() - (h - 1) / 2, (m * c[rows, cols]).sum() / m.sum() - (w - 1) / 2)
        )
    return out


def test_rotation_is_rigid_about_the_centre_by_one_bounded_angle_per_image():
    x = torch.zeros(40, 1, 41, 41, dtype=torch.float64)
    x[..., 9:12, 28:31] = 1.0  # a blob up-right of the centre (row 10, col 29: offset -10, +9)
    x[..., 28:31, 8:11] = 1.0  # and one down-left (row 29, col 9: offset +9, -11), both far from the axes
    out = random_rotate(x, 20.0, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    before = _centroids(x[0, 0])
    angles = []
    for img in out[:, 0]:
        per_blob = []
        for (r0, c0), (r1, c1) in zip(before, _centroids(img)):
            torch.testing.assert_close(torch.hypot(r1, c1), torch.hypot(r0, c0), atol=0.05, rtol=0)  # radius kept
            # angle counter-clockwise on screen (rows point down, hence the minus signs)
            per_blob.append(torch.atan2(-r1, c1) - torch.atan2(-r0, c0))
        assert abs(per_blob[0] - per_blob[1]) < 0.01  # one rigid rotation moves both blobs
        angles.append(float(per_blob[0]) * 180 / torch.pi)
    assert max(abs(a) for a in angles) <= 20.0 + 0.3
    assert torch.tensor(angles).std() > 5  # angles are drawn per image


def test_no_rotation_is_identity_and_negative_is_an_error():
    x = torch.rand(2, 1, 8, 8)
    assert random_rotate(x, 0) is x
    with pytest.raises(ValueError, match="max_degrees"):
        random_rotate(x, -1)


def test_flip_and_jitter_keep_shapes_and_ranges():
    from fastadapt.tasks.augment import colour_jitter, natural_image_augment, random_hflip

    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 6, 3, 12, 12)
    f = random_hflip(x, g)
    same, mirrored = (f == x).flatten(2).all(-1), (f == x.flip(-1)).flatten(2).all(-1)
    assert bool((same | mirrored).all()) and 0 < int(mirrored.sum()) < 24
    j = colour_jitter(x, 0.4, g)
    assert j.shape == x.shape and float(j.min()) >= 0 and float(j.max()) <= 1 and not torch.equal(j, x)
    gray = torch.rand(5, 3, 8, 8)[:, :1].expand(5, 3, 8, 8)  # gray stays gray under saturation changes
    jg = colour_jitter(gray, 0.4, g)
    assert torch.allclose(jg[:, 0], jg[:, 1], atol=1e-6) and torch.allclose(jg[:, 1], jg[:, 2], atol=1e-6)
    assert torch.equal(colour_jitter(x, 0.0, g), x)
    a = natural_image_augment(x, torch.Generator().manual_seed(1))
    b = natural_image_augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    with pytest.raises(ValueError, match="jitter strength"):
        colour_jitter(x, 1.5, g)
