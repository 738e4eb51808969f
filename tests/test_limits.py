"""Ranges of integer settings (fastadapt.presets.limits): every preset lies inside them, and a value outside is
refused naming the key and the range."""

import pytest

from fastadapt.presets import PRESETS, get_preset
from fastadapt.presets.limits import LIMITS, check_limits


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_within_the_limits(name):
    check_limits(get_preset(name))


def test_every_limited_key_is_a_setting_of_some_preset():
    known = {k for n in PRESETS for k in get_preset(n)}
    assert set(LIMITS) <= known, set(LIMITS) - known


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("relation_hidden", 0, "relation_hidden must be an integer from 1 to 65,536"),
        ("test_inner_steps", 10**12, "test_inner_steps must be an integer from 0 to 100,000 .*got 1,000,000,000,000"),
        ("np_encoder_layers", 0, "from 1 to 1,024"),
        ("bandit_arms", 1, "bandit_arms must be an integer from 2"),
        ("meta_batch", 10**6, "meta_batch must be an integer from 1 to 100,000"),
    ],
)
def test_out_of_range_values_are_refused_naming_key_and_range(key, value, message):
    with pytest.raises(ValueError, match=message):
        check_limits({key: value})
    low, high, _ = LIMITS[key]
    check_limits({key: low})
    check_limits({key: high})
    check_limits({key: True, "other": -1})  # booleans and unlisted keys are not this check's business
