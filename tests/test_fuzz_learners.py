"""Property-based fuzzing of the learners' API boundary (issue #31, reliability): `adapt(support_x, support_y, ways)`
and `predict(query_x)` of several families -- ProtoNet, Matching, Relation, MAML, VERSA (classification, Conv4 of
width 8 on 28x28 images) and CNP, NP, ANP, sinusoid MAML (regression) -- on support / query tensors of random shapes
with NaN / infinite / huge entries, labels out of range, mismatched lengths, empty sets, wrong dtypes, channel counts,
image sizes and layouts, and odd ``ways``.

The property: each call either raises a clear ValueError -- the same words from every learner when the input breaks
a rule they share (`Learner.__init_subclass__` runs `check_tensors`, `check_support`, `check_input_shape` before any
learner's own code) -- or returns finite predictions of the right shape (class probabilities summing to 1; Gaussian
means and positive variances). Never another exception type, never NaN in silence."""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fastadapt.configs import build_learner
from fastadapt.learners.gradient import GradientLearner
from fastadapt.presets import get_preset

SCALE = float(os.environ.get("FASTADAPT_FUZZ_SCALE", "1"))  # 20: a deeper local search
FUZZ = settings(
    max_examples=int(120 * SCALE),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CLASSIFIERS = {
    "protonet": "omniglot-protonet-5w1s",
    "matching": "omniglot-matching-5w1s",
    "relation": "omniglot-relation-5w1s",
    "maml": "omniglot-maml-5w1s",
    "versa": "omniglot-versa-5w1s",
}
REGRESSORS = {"cnp": "gp-cnp", "np": "gp-np", "anp": "gp-anp", "sinusoid-maml": "sinusoid-maml-5shot"}
TINY = {
    "hidden": 8,
    "np_hidden": 16,
    "np_latent": 8,
    "np_heads": 2,
    "np_samples": 4,
    "mlp_hidden": 8,
    "versa_eval_samples": 10,
    "relation_hidden": 4,
}


@cache
def learner(preset: str):
    torch.manual_seed(0)
    return build_learner({**get_preset(preset), **TINY}).eval()


def head_width(model) -> int | None:
    """Classes a gradient learner's output layer scores (its predictions cover all of them, whatever ``ways``)."""
    if isinstance(model, GradientLearner):
        return [m for m in model.module.modules() if isinstance(m, torch.nn.Linear)][-1].out_features
    return None


# ---- hostile tasks, as plain specs (so failing cases can be kept as @example) ----------------------------------
DTYPES = ["float64", "float16", "bfloat16", "uint8", "int64", "int32", "bool", "complex64"]
BAD_WAYS = [None, 0, -1, 2.0, 5.5, True, 7, 10**12, "np3", "tensor3"]


def corruption():
    where = st.sampled_from(["support_x", "query_x"])
    return st.one_of(
        st.tuples(st.just("nonfinite"), where, st.sampled_from(["nan", "inf", "-inf"]), st.integers(1, 3)),
        st.tuples(st.just("huge"), where, st.integers(1, 38), st.sampled_from([1.0, -1.0])),
        st.tuples(st.just("label"), st.sampled_from([-1, 5, 9, 2**40])),
        st.tuples(st.just("lengths"), st.sampled_from([-1, 1])),
        st.tuples(st.just("empty"), st.sampled_from(["support", "query"])),
        st.tuples(st.just("dtype"), st.sampled_from(["support_x", "query_x", "support_y"]), st.sampled_from(DTYPES)),
        st.tuples(st.just("channels"), where, st.sampled_from([0, 2, 3])),
        st.tuples(st.just("size"), where, st.integers(1, 40), st.integers(1, 40)),
        st.tuples(
            st.just("layout"),
            st.sampled_from(["no_channel_dim", "flat", "batched", "label_column", "label_scalar", "query_batched"]),
        ),
        st.tuples(st.just("ways"), st.sampled_from(BAD_WAYS)),
    )


def spec_strategy(regression: bool = False):
    return st.fixed_dictionaries(
        {
            "ways": st.integers(1, 5),
            "shots": st.integers(1, 2),
            "queries": st.integers(0, 4),
            "seed": st.integers(0, 2**31 - 1),
            "bad": st.lists(regression_corruption() if regression else corruption(), max_size=2),
        }
    )


def _cast(t: torch.Tensor, dtype: str) -> torch.Tensor:
    if dtype == "uint8":
        return (t * 255).clamp(0, 255).to(torch.uint8)
    return t.to(getattr(torch, dtype))


def make_task(spec: dict, c: int = 1, size: int = 28):
    """(support_x, support_y, ways, query_x) for a classification spec: a clean task, then its corruptions."""
    g = torch.Generator().manual_seed(spec["seed"])
    ways, shots, q = spec["ways"], spec["shots"], spec["queries"]
    sy = torch.arange(ways).repeat(shots)[torch.randperm(ways * shots, generator=g)]
    sx = torch.rand(len(sy), c, size, size, generator=g)
    qx = torch.rand(q, c, size, size, generator=g)
    arg_ways = ways
    for bad in spec["bad"]:
        kind, *a = bad
        if kind == "nonfinite":
            t = sx if a[0] == "support_x" else qx
            if t.numel() and t.is_floating_point():
                idx = torch.randint(0, t.numel(), (a[2],), generator=g)
                t.view(-1)[idx] = float(a[1])
        elif kind == "huge":
            if a[0] == "support_x" and sx.is_floating_point():
                sx = sx * (a[2] * 10.0 ** a[1])
            elif a[0] == "query_x" and qx.is_floating_point():
                qx = qx * (a[2] * 10.0 ** a[1])
        elif kind == "label" and sy.numel() and sy.dim():
            sy = sy.clone()
            sy.view(-1)[0] = a[0]
        elif kind == "lengths" and sy.dim() == 1:
            sy = sy[:-1] if a[0] < 0 else torch.cat([sy, sy[:1]])
        elif kind == "empty" and sx.dim() and sy.dim() and qx.dim():
            if a[0] == "support":
                sx, sy = sx[:0], sy[:0]
            else:
                qx = qx[:0]
        elif kind == "dtype":
            if a[0] == "support_x":
                sx = _cast(sx, a[1])
            elif a[0] == "query_x":
                qx = _cast(qx, a[1])
            else:
                sy = _cast(sy, a[1]) if a[1] != "uint8" else sy.to(torch.uint8)
        elif kind == "channels" and sx.dim() == 4 and qx.dim() == 4:
            n = len(sx) if a[0] == "support_x" else len(qx)
            new = torch.rand(n, a[1], size, size, generator=g)
            sx, qx = (new, qx) if a[0] == "support_x" else (sx, new)
        elif kind == "size" and sx.dim() == 4 and qx.dim() == 4:
            n = len(sx) if a[0] == "support_x" else len(qx)
            new = torch.rand(n, sx.shape[1], a[1], a[2], generator=g)
            sx, qx = (new, qx) if a[0] == "support_x" else (sx, new)
        elif kind == "layout":
            if a[0] == "no_channel_dim" and sx.dim() == 4:
                sx, qx = sx[:, 0], qx[:, 0]
            elif a[0] == "flat":
                sx, qx = sx.flatten(1), qx.flatten(1)
            elif a[0] == "batched":
                sx, sy, qx = sx[None], sy[None], qx[None]
            elif a[0] == "label_column" and sy.dim() == 1:
                sy = sy[:, None]
            elif a[0] == "label_scalar" and sy.dim() == 1:
                sy = sy[0] if sy.numel() else sy.sum()
            elif a[0] == "query_batched":
                qx = qx[None]
        elif kind == "ways":
            arg_ways = np.int64(3) if a[0] == "np3" else torch.tensor(3) if a[0] == "tensor3" else a[0]
    return sx, sy, arg_ways, qx


def outcome(model, sx, sy, ways, qx):
    """("error", message) for a ValueError, ("ok", prediction) otherwise; any other exception fails the test."""
    try:
        with torch.no_grad():
            return "ok", model.adapt(sx, sy, ways).predict(qx)
    except ValueError as e:
        assert str(e).strip(), f"{type(model).__name__} raised a ValueError without a message"
        return "error", str(e)


def own_words(model, message: str) -> bool:
    """A refusal in the learner's own terms (its preconditions beyond the shared ones), or of its own output."""
    return type(model).__name__ in message or message.startswith("The prediction holds")


def check_same_refusal(results: dict) -> None:
    """When a learner refuses with a shared rule's words, every learner refuses with the same words (a learner may
    instead give its own reason, naming itself, when its own precondition fails first)."""
    shared = {msg for kind, msg, model in results.values() if kind == "error" and not own_words(model, msg)}
    assert len(shared) <= 1, f"different words for the same input: {shared}"
    if shared:
        (msg,) = shared
        for name, (kind, got, model) in results.items():
            assert kind == "error" and (got == msg or own_words(model, got)), (
                f"{name}: {kind} {got if kind == 'error' else ''!s:.200} where the others said {msg!r}"
            )


def expected_classes(model, sy, ways) -> int:
    width = head_width(model)
    if width is not None:
        return width
    return int(ways) if ways is not None else int(sy.max()) + 1


# ---- classification -----------------------------------------------------------------------------------------
@pytest.mark.filterwarnings(r"ignore:var\(\)")  # VERSA's spread over one draw: degrees of freedom <= 0
@FUZZ
@given(spec=spec_strategy())
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("dtype", "support_x", "float64")]})
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("dtype", "query_x", "uint8")]})
@example(spec={"ways": 3, "shots": 2, "queries": 2, "seed": 1, "bad": [("layout", "label_column")]})  # Matching:
# predictions of shape [6, 2, 3] in silence; the others: RuntimeErrors from inside the model
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("ways", 2.0)]})  # TypeError (one_hot)
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("ways", 10**12)]})  # allocator error
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("dtype", "support_y", "int32")]})  # MAML
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("dtype", "support_y", "float64")]})  # TypeError
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("layout", "batched")]})  # MAML: conv2d error
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("huge", "support_x", 38, 1.0)]})  # NaN
@example(spec={"ways": 3, "shots": 1, "queries": 2, "seed": 1, "bad": [("huge", "query_x", 30, -1.0)]})
def test_classifiers_refuse_alike_or_predict_probabilities(spec):
    results = {}
    for name, preset in CLASSIFIERS.items():
        model = learner(preset)
        sx, sy, ways, qx = make_task(spec)
        kind, value = outcome(model, sx, sy, ways, qx)
        results[name] = (kind, value if kind == "error" else "", model)
        if kind == "ok":
            probs = value.probs
            n = expected_classes(model, sy, ways)
            assert probs.shape == (*qx.shape[:-3], n), (
                f"{name}: probabilities {tuple(probs.shape)} for queries {tuple(qx.shape)} and {n} classes"
            )
            assert torch.isfinite(probs).all(), f"{name}: non-finite probabilities in silence"
            assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1]), atol=1e-4), name
    event(f"{sum(kind == 'ok' for kind, _, _ in results.values())} of {len(results)} predicted")
    check_same_refusal(results)


# ---- regression ---------------------------------------------------------------------------------------------------
def regression_corruption():
    where = st.sampled_from(["support_x", "support_y", "query_x"])
    return st.one_of(
        st.tuples(st.just("nonfinite"), where, st.sampled_from(["nan", "inf", "-inf"]), st.integers(1, 2)),
        st.tuples(st.just("huge"), where, st.integers(1, 38), st.sampled_from([1.0, -1.0])),
        st.tuples(st.just("lengths"), st.sampled_from([-1, 1])),
        st.tuples(st.just("empty"), st.sampled_from(["support", "query"])),
        st.tuples(st.just("dtype"), where, st.sampled_from(["float64", "float16", "int64", "bool"])),
        st.tuples(st.just("dims"), where, st.sampled_from([0, 2, 3])),
        st.tuples(
            st.just("layout"), st.sampled_from(["flat", "target_flat", "batched", "query_batched", "query_scalar"])
        ),
    )


def make_points(spec: dict):
    """(support_x, support_y, query_x) for a regression spec: N = ways * shots points of 1-D x and y, Q queries."""
    g = torch.Generator().manual_seed(spec["seed"])
    n, q = spec["ways"] * spec["shots"], spec["queries"]
    t = {"support_x": torch.rand(n, 1, generator=g) * 4 - 2, "query_x": torch.rand(q, 1, generator=g) * 4 - 2}
    t["support_y"] = torch.sin(t["support_x"])
    for bad in spec["bad"]:
        kind, *a = bad
        if kind == "nonfinite" and t[a[0]].numel() and t[a[0]].is_floating_point():
            t[a[0]] = t[a[0]].clone()
            t[a[0]].view(-1)[torch.randint(0, t[a[0]].numel(), (a[2],), generator=g)] = float(a[1])
        elif kind == "huge" and t[a[0]].is_floating_point():
            t[a[0]] = t[a[0]] * (a[2] * 10.0 ** a[1])
        elif kind == "lengths" and t["support_y"].dim() == 2:
            y = t["support_y"]
            t["support_y"] = y[:-1] if a[0] < 0 else torch.cat([y, y[:1]])
        elif kind == "empty":
            for k in ("support_x", "support_y") if a[0] == "support" else ("query_x",):
                t[k] = t[k][:0]
        elif kind == "dtype":
            t[a[0]] = t[a[0]].to(getattr(torch, a[1]))
        elif kind == "dims" and t[a[0]].dim() == 2:
            t[a[0]] = torch.rand(t[a[0]].shape[0], a[1], generator=g)
        elif kind == "layout":
            if a[0] == "flat":
                t["support_x"], t["query_x"] = t["support_x"].reshape(-1), t["query_x"].reshape(-1)
            elif a[0] == "target_flat":
                t["support_y"] = t["support_y"].reshape(-1)
            elif a[0] == "batched":
                t = {k: v[None] for k, v in t.items()}
            elif a[0] == "query_batched":
                t["query_x"] = t["query_x"][None]
            elif a[0] == "query_scalar":
                t["query_x"] = torch.tensor(0.5)
    return t["support_x"], t["support_y"], t["query_x"]


@FUZZ
@given(spec=spec_strategy(regression=True))
@example(spec={"ways": 2, "shots": 2, "queries": 0, "seed": 1, "bad": []})  # ANP: RuntimeError on 0 queries
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("layout", "target_flat")]})  # sinusoid
# MAML broadcast [4] targets against [4, 1] outputs in silence
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("layout", "flat")]})  # MAML: matmul error
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("dims", "support_y", 2)]})
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("dims", "query_x", 2)]})
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("dtype", "support_x", "float64")]})
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("huge", "support_y", 38, 1.0)]})  # NaN
@example(spec={"ways": 2, "shots": 2, "queries": 3, "seed": 1, "bad": [("layout", "query_scalar")]})
@example(spec={"ways": 1, "shots": 1, "queries": 1, "seed": 1, "bad": [("huge", "query_x", 7, 1.0)]})  # NP: variance
# -512 (E[mean^2] - m^2 cancelling in float32 for means near 1e5)
def test_regressors_refuse_alike_or_predict_finite_gaussians(spec):
    results = {}
    for name, preset in REGRESSORS.items():
        model = learner(preset)
        sx, sy, qx = make_points(spec)
        kind, value = outcome(model, sx, sy, None, qx)
        results[name] = (kind, value if kind == "error" else "", model)
        if kind == "ok":
            assert value.mean.shape == (*qx.shape[:-1], sy.shape[-1]), (
                f"{name}: mean {tuple(value.mean.shape)} for queries {tuple(qx.shape)}"
            )
            assert torch.isfinite(value.mean).all(), f"{name}: non-finite mean in silence"
            if value.var is not None:
                assert (
                    value.var.shape == value.mean.shape and torch.isfinite(value.var).all() and (value.var > 0).all()
                ), f"{name}: variance {value.var}"
    event(f"{sum(kind == 'ok' for kind, _, _ in results.values())} of {len(results)} predicted")
    check_same_refusal(results)


def test_the_fuzzed_learners_cover_several_families():
    names = {type(learner(p)).__name__ for p in [*CLASSIFIERS.values(), *REGRESSORS.values()]}
    assert len(names) >= 7, names
    with pytest.raises(ValueError, match="support_x contains 1 NaN or Inf"):  # the shared words, as documented
        sx, sy, ways, qx = make_task(
            {"ways": 2, "shots": 1, "queries": 1, "seed": 0, "bad": [("nonfinite", "support_x", "nan", 1)]}
        )
        learner(CLASSIFIERS["relation"]).adapt(sx, sy, ways)
