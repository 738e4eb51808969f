"""Property-based fuzzing of `fastadapt train --set KEY=VALUE` (issue #31, reliability): for the keys of the real
presets, hostile values (negative, zero, huge and beyond-64-bit integers, floats where integers are expected, NaN and
infinity spellings, empty strings, unicode, JSON fragments, booleans, lists) are either refused with a clear
ValueError / KeyError naming the key -- through `fastadapt.cli.main`: exit code 2, one `fastadapt train: error:`
line, no traceback -- or accepted as a valid configuration. Never an internal error (exit 1), never a traceback.

Three layers, cheapest first: `apply_overrides` (every preset, every key), `check_config` (the checks run before any
work; it must accept exactly the valid values), and the CLI end to end on small presets with ``steps=0`` (no
meta-training: the initial model is saved and tested on 2 episodes, well under a second)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fastadapt.cli import main
from fastadapt.presets import DEFAULTS, INT64_MAX, INT64_MIN, PRESETS, apply_overrides, get_preset
from fastadapt.presets.limits import LIMITS
from fastadapt.tasks import REGRESSION_DATASETS
from fastadapt.train.trainer import POSITIVE_SIZES, check_config

# Reproducible in CI: the same examples every run (derandomize), nothing written to a .hypothesis database.
# FASTADAPT_FUZZ_SCALE=20 fuzzes 20 times as many examples (a deeper local search).
SCALE = float(os.environ.get("FASTADAPT_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=int(300 * SCALE),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---- hostile values, as the text after `--set KEY=` -------------------------------------------------------------
HUGE_INTS = [2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, -(10**30)]
INT_SPELLINGS = ["+5", " 5", "5 ", "0x10", "1_000", "1e3", "2.5", "-0", "٣", "007"]
FLOAT_SPELLINGS = [
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "-1e999",
    "5e-324",
    "1e-300",
    "1e308",
    "-0.0",
    "0",
    "-1",
    ".5",
    "1e",
    "0x1p3",
]
BOOL_SPELLINGS = ["true", "false", "True", "FALSE", "yes", "no", "1", "0", "on", "off", "t", ""]
JSON_FRAGMENTS = [
    "[]",
    "[0]",
    "[1,2]",
    "[0.5,0.5,0.5]",
    "[0,0,0]",
    "[-1,0,1]",
    "[NaN]",
    "[Infinity,1,1]",
    "[1e999]",
    "[1e400]",
    "[10000000000000000000000000000000000000000]",
    "[1e-320,1,1]",
    "[true]",
    '["a"]',
    "[[1]]",
    "{}",
    '{"a":1}',
    "null",
    "1",
    '"x"',
    "[",
    "]",
    "[1,",
    "[1 2]",
    "[" * 5000,
]
ints = st.one_of(st.integers(-3, 8), st.sampled_from(HUGE_INTS), st.integers()).map(str)
floats = st.one_of(
    st.sampled_from(FLOAT_SPELLINGS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-10, 10).map(str),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
).map(lambda v: json.dumps(v))
texts = st.one_of(
    st.just(""),
    st.text(max_size=16),
    st.sampled_from(["None", "null", "é", "🙂", "\u202e", "a=b", "=", "--set", "../../etc"]),
)
HOSTILE = st.one_of(ints, floats, st.sampled_from(BOOL_SPELLINGS), st.sampled_from(JSON_FRAGMENTS), json_values, texts)


def hostile_for(default):
    """Values aimed at a key of this default's type, mixed with hostile values of every other kind."""
    aimed = (
        st.sampled_from(BOOL_SPELLINGS)
        if isinstance(default, bool)
        else st.one_of(ints, st.sampled_from(INT_SPELLINGS))
        if isinstance(default, int)
        else floats
        if isinstance(default, float)
        else st.one_of(st.sampled_from(JSON_FRAGMENTS), json_values)
        if isinstance(default, list)
        else texts
    )
    return st.one_of(aimed, aimed, HOSTILE)


def names_key(err: BaseException, key: str) -> bool:
    msg = err.args[0] if err.args else ""
    return isinstance(msg, str) and key in msg


# ---- 1. apply_overrides: every preset, every key ---------------------------------------------------------------
ALL_PRESETS = sorted(PRESETS)


@st.composite
def preset_key_value(draw, presets=ALL_PRESETS, keys=None, skip=()):
    preset = draw(st.sampled_from(presets))
    cfg = get_preset(preset)
    key = draw(st.sampled_from(sorted(k for k in cfg if (keys is None or k in keys) and k not in skip)))
    return preset, key, draw(hostile_for(cfg[key]))


@FUZZ
@given(preset_key_value())
@example(("omniglot-protonet-5w1s", "hidden", "99999999999999999999999999"))  # was an OverflowError in torch
@example(("omniglot-protonet-5w1s", "seed", str(2**64)))  # was torch's "Overflow ... long long"
@example(("mini-imagenet-protonet-5w1s", "input_std", "[NaN,1,1]"))  # JSON NaN was accepted
@example(("mini-imagenet-protonet-5w1s", "input_mean", "[1e999,0,0]"))  # JSON overflow to inf was accepted
@example(("mini-imagenet-protonet-5w1s", "input_mean", "[1" + "0" * 400 + "]"))  # int beyond float range
@example(("mini-imagenet-protonet-5w1s", "input_std", "[" * 5000))  # was a RecursionError
@example(("omniglot-maml-5w1s", "inner_lr", "nan"))  # silent NaN predictions
@example(("sinusoid-maml-5shot", "ways", "5"))  # unset (None) in the preset: was stored as the string "5"
def test_a_set_value_is_typed_like_the_preset_or_refused_naming_the_key(case):
    preset, key, raw = case
    base = get_preset(preset)
    try:
        cfg = apply_overrides(base, [f"{key}={raw}"])
    except (ValueError, KeyError) as e:
        assert names_key(e, f"--set {key}="), e
        return
    value, default = cfg[key], base[key]
    if default is None and DEFAULTS.get(key) is not None:  # unset in this preset: typed like the library default
        default = DEFAULTS[key]
    if isinstance(default, bool):
        assert isinstance(value, bool)
    elif isinstance(default, int):
        assert type(value) is int and INT64_MIN <= value <= INT64_MAX
    elif isinstance(default, float):
        assert type(value) is float and not math.isnan(value)
    elif isinstance(default, list):
        assert isinstance(value, list) and all(type(v) is float and math.isfinite(v) for v in value)
    else:  # text (or None) defaults take the text as it is
        assert value == raw
    assert {k: v for k, v in cfg.items() if k != key} == {k: v for k, v in base.items() if k != key}


@FUZZ
@given(
    st.sampled_from(ALL_PRESETS),
    st.one_of(
        st.text(max_size=24),
        st.sampled_from(
            ["", "=", "==", "hidden", "hidden=", "=8", "Hidden=8", "hidden =8", " hidden=8", "hiden=8", "\x00=1"]
        ),
    ),
)
def test_any_set_argument_is_applied_or_refused_with_value_or_key_error(preset, pair):
    try:
        apply_overrides(get_preset(preset), [pair])
    except ValueError as e:
        assert "--set" in str(e)
    except KeyError as e:  # an unknown key, named, with the known ones
        assert names_key(e, repr(pair.split("=", 1)[0])) and "Known keys" in e.args[0]


# ---- 2. check_config accepts exactly the valid values -------------------------------------------------------------
SCHEDULE = (
    "steps",
    "log_every",
    "ckpt_every",
    "val_every",
    "meta_batch",
    "lr_decay_every",
    "eval_episodes",
    "val_episodes",
)
CHECKED = (
    set(SCHEDULE)
    | set(POSITIVE_SIZES)
    | set(LIMITS)
    | {"lr", "lr_decay", "max_train_seconds", "train_ways", "augment", "device"}
)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def valid(cfg, key) -> bool:
    """What check_config must accept for ``key`` (every other key holds its preset's value)."""
    v = cfg[key]
    if key in LIMITS and is_int(v) and not LIMITS[key][0] <= v <= LIMITS[key][1]:
        return False
    if key in LIMITS and key not in SCHEDULE and key not in POSITIVE_SIZES:
        return True  # within its range (or not an integer: the learner's to check)
    if key == "steps":
        return is_int(v) and v >= 0
    if key in SCHEDULE:
        return (
            is_int(v)
            and v >= 1
            and (key not in ("log_every", "ckpt_every") or cfg["ckpt_every"] % cfg["log_every"] == 0)
        )
    if key in ("lr", "lr_decay"):
        return math.isfinite(v) and v > 0
    if key == "max_train_seconds":
        return v >= 0  # NaN is refused by --set already; inf: no limit
    if key == "train_ways":
        return cfg["dataset"] in REGRESSION_DATASETS or (is_int(v) and v >= 2)
    if key in POSITIVE_SIZES:
        return not is_int(v) or v >= 1  # ranges ("3-50") and None are the data set's to check
    if key == "augment":
        return v in ("", "natural")
    if key == "device":
        try:
            kind = torch.device(v).type if v != "auto" else "auto"
        except (RuntimeError, TypeError, ValueError):
            return False
        return kind in ("auto", "cpu") or (kind == "cuda" and torch.cuda.is_available())
    raise AssertionError(key)


@FUZZ
@given(preset_key_value(keys=CHECKED))
@example(("omniglot-protonet-5w1s", "lr_decay", "-1"))  # a negative or zero decay was accepted
@example(("omniglot-protonet-5w1s", "lr_decay", "inf"))
@example(("omniglot-protonet-5w1s", "max_train_seconds", "-5"))
@example(("omniglot-protonet-5w1s", "hidden", "0"))  # failed inside torch, after --out was prepared
@example(("omniglot-protonet-5w1s", "channels", "-1"))
@example(("omniglot-protonet-5w1s", "augment", "flip"))  # failed at the first training step
@example(("omniglot-protonet-5w1s", "device", "é"))  # torch's RuntimeError, key unnamed
@example(("omniglot-protonet-5w1s", "device", "meta"))  # a device torch knows but nothing trains on
@example(("omniglot-protonet-5w1s", "device", "xla"))
@example(("omniglot-protonet-5w1s", "log_every", "3"))  # 250 is no multiple of 3
@example(("omniglot-relation-5w1s", "relation_hidden", "0"))  # a model with no units trained
@example(("omniglot-maml-5w1s", "test_inner_steps", str(10**12)))  # ran on for days
@example(("gp-np", "np_hidden", "0"))
def test_check_config_accepts_exactly_the_valid_values(case):
    preset, key, raw = case
    try:
        cfg = apply_overrides(get_preset(preset), [f"{key}={raw}"])
    except (ValueError, KeyError):
        return  # refused by --set already (the test above)
    if valid(cfg, key):
        check_config(cfg)
    else:
        with pytest.raises(ValueError) as e:
            check_config(cfg)
        assert names_key(e.value, key), e.value


# ---- 3. the CLI end to end --------------------------------------------------------------------------------------
# Small presets of several families; each run builds the learner (Conv4 of width 8) and tests it on 2 episodes.
CLI_PRESETS = [
    "omniglot-protonet-5w1s",
    "omniglot-matching-5w1s",
    "omniglot-relation-5w1s",
    "omniglot-maml-5w1s",
    "omniglot-versa-5w1s",
    "gp-cnp",
    "sinusoid-maml-5shot",
]
# Keys left out here (covered by the layers above): those that choose the work (its amount or its data set), whose
# valid values are legitimately expensive -- a new image size decodes Omniglot again, a loop count of 10**12 runs.
COSTLY = {"steps", "eval_episodes", "image_size", "dataset", "data_root", "split", "preset", "backbone", "precision"}
FAST = ["--set", "steps=0", "--set", "eval_episodes=2"]


def cli_value(default):
    """Hostile values that stay cheap when valid: small integers (or ones beyond 64 bits, refused by --set), every
    other hostile kind as above."""
    small_ints = st.one_of(st.integers(-3, 6), st.sampled_from([2**63, -(2**63) - 1, 10**30])).map(str)
    aimed = (
        st.sampled_from(BOOL_SPELLINGS)
        if isinstance(default, bool)
        else st.one_of(small_ints, st.sampled_from(["2.5", "1e3", "", "nan", "true"]))
        if isinstance(default, int)
        else st.one_of(st.sampled_from(FLOAT_SPELLINGS), st.floats(-4, 4).map(str))
        if isinstance(default, float)
        else st.one_of(st.sampled_from(JSON_FRAGMENTS), json_values)
        if isinstance(default, list)
        else texts
    )
    cheap = st.one_of(st.sampled_from(FLOAT_SPELLINGS + BOOL_SPELLINGS + JSON_FRAGMENTS), texts)
    return st.one_of(aimed, aimed, aimed, cheap)


@st.composite
def cli_case(draw):
    preset = draw(st.sampled_from(CLI_PRESETS))
    cfg = get_preset(preset)
    key = draw(st.sampled_from(sorted(k for k in cfg if k not in COSTLY)))
    return preset, key, draw(cli_value(cfg[key]))


@contextlib.contextmanager
def guarded(seconds: int = 60, extra_bytes: int = 4 << 30):
    """A memory ceiling (address space: now + 4 GiB) so that a size no check refuses fails fast in the allocator
    instead of taking the machine's memory, and a time limit so that it cannot run on."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            now = int(f.read().split()[0]) * resource.getpagesize()
        cap = now + extra_bytes if hard == resource.RLIM_INFINITY else min(hard, now + extra_bytes)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        resource = None

    def too_slow(*_):
        raise TimeoutError(f"a fuzzed `fastadapt train` ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, too_slow) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.alarm(seconds)
    try:
        yield
    finally:
        if old is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        if resource is not None:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_train(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with guarded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["train", *args])
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def refused_by_checks(cfg) -> bool:
    try:
        check_config(cfg)
    except ValueError:
        return True
    return False


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # a width of 0 some learners accept
@settings(FUZZ, max_examples=int(150 * SCALE))
@given(case=cli_case())
@example(case=("omniglot-protonet-5w1s", "hidden", "99999999999999999999999999"))  # was exit 1 (internal error)
@example(case=("omniglot-protonet-5w1s", "hidden", "-1"))  # torch's "negative dimension", key unnamed
@example(case=("omniglot-protonet-5w1s", "shots", str(10**30)))  # was exit 1 (OverflowError in the sampler)
@example(case=("omniglot-relation-5w1s", "relation_hidden", "-1"))  # torch's message only
@example(case=("omniglot-maml-5w1s", "inner_lr", "inf"))  # NLL nan in the summary, exit 0
@example(case=("omniglot-matching-5w1s", "cosine_scale", "inf"))  # blamed the checkpoint for a diverged run
@example(case=("omniglot-maml-5w1s", "inner_lr", "1e30"))  # finite, but NaN predictions with exit 0
@example(case=("omniglot-relation-5w1s", "relation_hidden", "0"))  # a model with no units trained
@example(case=("gp-cnp", "gp_scale", "1e308"))  # was exit 1 (OverflowError in the kernel)
@example(case=("gp-cnp", "gp_noise", "5e-324"))  # torch's Cholesky error, key unnamed
@example(case=("gp-cnp", "gp_length_scale", "inf"))
@example(case=("gp-cnp", "np_encoder_layers", "0"))  # "mat1 and mat2 shapes cannot be multiplied"
@example(case=("omniglot-protonet-5w1s", "input_std", "[1e-320]"))  # zero in float32: inf / NaN features
@example(case=("omniglot-protonet-5w1s", "device", "meta"))
def test_cli_train_refuses_a_bad_setting_in_one_line_or_runs(case, data_root):
    preset, key, raw = case
    cfg = None
    with contextlib.suppress(ValueError, KeyError):
        cfg = apply_overrides(
            get_preset(preset), FAST[1::2] + (["hidden=8"] if key != "hidden" else []) + [f"{key}={raw}"]
        )
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "run"
        args = [
            "--preset",
            preset,
            "--out",
            str(out_dir),
            "--data-root",
            str(data_root),
            *FAST,
            *(["--set", "hidden=8"] if key != "hidden" else []),
            "--set",
            f"{key}={raw}",
        ]
        rc, stdout, stderr = run_train(args)
        event(f"exit {rc}")
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        assert rc in (0, 2), (rc, stderr)
        if rc == 2:
            line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            assert stderr.strip().startswith("fastadapt train: error: "), stderr
            assert key in stderr, f"the error does not name {key!r}: {line}"
            if cfg is None or refused_by_checks(cfg):  # refused before any work: --out was not even created
                assert not out_dir.exists()
        else:
            assert cfg is not None and not refused_by_checks(cfg)
            assert "nan" not in stdout.lower(), f"{key}={raw} was accepted and gave NaN results: {stdout}"
