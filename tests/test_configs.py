"""fastadapt.configs: typed learner configurations built once from a run's flat settings."""

import json
import re
from pathlib import Path

import pytest
import torch

from fastadapt.configs import ConfigError, build_learner, check_value, learner_config, parse_text, task_shape
from fastadapt.configs.learners import LEARNER_CONFIGS, MAMLConfig, ProtoNetConfig, ReptileConfig
from fastadapt.learners import METHODS
from fastadapt.presets import PRESETS, apply_overrides, get_preset

ROOT = Path(__file__).resolve().parents[1]
SEPARATE_TRAINERS = ("l2o",)  # learned optimizers train on their own objective, not a Learner


def test_every_method_has_one_typed_configuration():
    assert set(LEARNER_CONFIGS) == set(METHODS)


def test_every_preset_and_every_committed_run_configuration_type_checks():
    configs = [get_preset(name) for name in PRESETS]
    configs += [json.loads(p.read_text()) for p in (ROOT / "results").glob("**/config.json")]
    checked = 0
    for cfg in configs:
        if cfg["method"] in SEPARATE_TRAINERS:
            continue
        assert type(learner_config(cfg)) is LEARNER_CONFIGS[cfg["method"]]
        assert task_shape(cfg).backbone.in_channels == cfg.get("channels", 1)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("value", "tp", "expected"),
    [
        (3, float, 3.0),
        (2.5, float, 2.5),
        (None, int | None, None),
        (4, int | None, 4),
        ([1, 0.5], list[float], [1.0, 0.5]),
        ([1, 2], tuple[int, ...], (1, 2)),
        ("odds", str, "odds"),
        (False, bool, False),
    ],
)
def test_values_of_the_right_type_pass_and_ints_count_as_floats(value, tp, expected):
    out = check_value("k", value, tp)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "tp", "words"),
    [
        (True, int, "an integer"),
        ("5", int, "an integer"),
        (float("nan"), float, "a number"),
        ("true", bool, "a boolean"),
        (1, bool, "a boolean"),
        (5, str, "a string"),
        ([1, "a"], list[float], "a list of numbers"),
        ("x", int | None, "an integer or null"),
    ],
)
def test_wrong_types_are_refused_with_what_was_expected_and_the_fix(value, tp, words):
    with pytest.raises(ConfigError, match=re.escape(f"k must be {words}, got {value!r}")) as e:
        check_value("k", value, tp)
    assert "--set k=" in str(e.value)


def test_set_text_is_parsed_by_the_field_type():
    assert parse_text("n", "5", int) == 5 and parse_text("x", "5", float) == 5.0
    assert parse_text("name", "5", str) == "5"  # a string field keeps digits as text
    assert parse_text("b", "yes", bool) is True and parse_text("b", "0", bool) is False
    assert parse_text("m", "[0.5,0.25]", list[float]) == [0.5, 0.25]
    assert parse_text("o", "null", int | None) is None
    with pytest.raises(ConfigError, match="must be a number"):
        parse_text("x", "fast", float)


def test_a_wrong_learner_setting_is_refused_before_anything_is_built():
    with pytest.raises(ConfigError, match="distance must be a string, got 2"):
        build_learner({**get_preset("omniglot-protonet-5w1s"), "distance": 2})
    with pytest.raises(ConfigError, match="versa_samples must be an integer, got 2.5"):
        build_learner({**get_preset("omniglot-versa-5w1s"), "versa_samples": 2.5})


def test_dataclass_defaults_are_the_constructors_and_each_method_keeps_its_own():
    protonet = build_learner({"method": "protonet"})
    assert ProtoNetConfig().distance == protonet.distance == "euclidean"
    assert build_learner({"method": "maml", "ways": 5}).inner_lr == MAMLConfig.default_inner_lr == 0.4
    assert build_learner({"method": "reptile", "ways": 5}).inner_lr == ReptileConfig.default_inner_lr == 0.1
    assert build_learner({"method": "reptile", "ways": 5, "inner_lr": 0.3}).inner_lr == pytest.approx(0.3)


def test_task_type_and_class_count_come_from_the_data():
    sinusoid = task_shape(get_preset("sinusoid-maml-5shot"))
    assert sinusoid.task_type == "regression"
    net = build_learner(get_preset("sinusoid-maml-5shot")).module
    assert net(torch.zeros(3, 1)).shape == (3, 1)
    assert task_shape(get_preset("rl-2dnav-maml")).task_type == "rl"
    shape = task_shape({**get_preset("omniglot-maml-5w1s"), "ways": 7})
    assert shape.task_type == "classification" and shape.ways == 7
    seven = build_learner({**get_preset("omniglot-maml-5w1s"), "ways": 7})
    assert seven.module(torch.zeros(2, 1, 28, 28)).shape == (2, 7)


def test_set_reaches_a_method_setting_the_preset_does_not_write():
    cfg = get_preset("omniglot-maml-5w1s")
    assert "mlp_hidden" not in cfg
    out = apply_overrides(cfg, ["mlp_hidden=20"])
    assert out["mlp_hidden"] == 20
    with pytest.raises(ConfigError, match="mlp_hidden must be an integer"):
        apply_overrides(cfg, ["mlp_hidden=wide"])
    with pytest.raises(KeyError, match="Did you mean 'mlp_hidden'"):
        apply_overrides(cfg, ["mlp_hiden=20"])


def test_learners_never_read_a_configuration_or_test_a_data_set_name():
    for path in (ROOT / "src/fastadapt/learners").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"\bcfg\b|from_config|\[\"dataset\"\]|get\(\"dataset\"", text), path.name


def test_training_settings_are_typed_required_and_checked_with_the_fix():
    from fastadapt.configs import TrainConfig, from_dict

    cfg = get_preset("omniglot-protonet-5w1s")
    tc = from_dict(TrainConfig, cfg)
    assert (tc.steps, tc.lr, tc.meta_batch) == (cfg["steps"], cfg["lr"], cfg["meta_batch"])
    assert isinstance(from_dict(TrainConfig, {**cfg, "lr": 1}).lr, float)
    missing = {k: v for k, v in cfg.items() if k != "val_every"}
    with pytest.raises(ConfigError, match=re.escape("val_every is not set; set it with --set val_every=N.")):
        from_dict(TrainConfig, missing)
    with pytest.raises(ConfigError, match=re.escape("meta_batch must be a positive integer, got 0; set it")):
        from_dict(TrainConfig, {**cfg, "meta_batch": 0})
    with pytest.raises(ConfigError, match="max_train_seconds must be a number >= 0"):
        from_dict(TrainConfig, {**cfg, "max_train_seconds": float("nan")})
    with pytest.raises(ConfigError, match="multiple of log_every"):
        from_dict(TrainConfig, {**cfg, "log_every": 7, "ckpt_every": 10})


def test_the_backbone_comes_from_its_configuration_keys():
    from fastadapt.configs import backbone_spec

    spec = backbone_spec(get_preset("mini-imagenet-protonet-5w5s"))
    assert (spec.name, spec.in_channels, spec.image_size, len(spec.mean)) == ("conv4", 3, 84, 3)
    assert backbone_spec(get_preset("omniglot-protonet-5w1s")).mean is None  # [] = no standardization
    with pytest.raises(ConfigError, match="channels must be an integer"):
        backbone_spec({"channels": "rgb"})


def test_test_time_crops_are_configured_and_checked():
    """``tta_crop`` reaches an encoder learner; a side outside the image, a weight outside (0, 1] or a learner
    without an image encoder is refused with what to set instead."""
    cfg = get_preset("omniglot-protonet-5w1s")
    learner = build_learner({**cfg, "tta_crop": 24, "tta_crop_weight": 0.5})
    assert learner.test_views == {"flip": False, "crop": 24, "crop_weight": 0.5}
    with pytest.raises(ConfigError, match="between 1 and 27 for image_size=28; got 28"):
        build_learner({**cfg, "tta_crop": 28})
    with pytest.raises(ConfigError, match="tta_crop_weight in \\(0, 1\\]"):
        build_learner({**cfg, "tta_crop": 24, "tta_crop_weight": 1.5})
    with pytest.raises(ConfigError, match="MAML is not one"):
        build_learner({**get_preset("omniglot-maml-5w1s"), "tta_crop": 24})
