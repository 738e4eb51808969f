"""Allowed ranges of the integer settings that learners and data sets read (issue #31). `check_limits` runs with the
trainer's other checks, before any work and before the run folder is touched, so a width of 0 or an inner loop of
10**12 steps is refused naming its key, instead of training a model with no units, failing deep inside torch, or
running for days. Upper bounds sit far above any published setting: they catch typos, not ambitions."""

from __future__ import annotations

from typing import Any

WIDTH = (1, 65_536, "units, channels or embedding size")
OPTIONAL_WIDTH = (0, 65_536, "a size, 0 to leave it out")
DEPTH = (1, 1_024, "layers or attention heads")
OPTIONAL_DEPTH = (0, 1_024, "layers, 0 for none")
STEPS = (0, 100_000, "steps per task")
COUNT = (1, 1_000_000, "a count")
CLASSES = (2, 100_000, "classes")

LIMITS: dict[str, tuple[int, int, str]] = {
    **dict.fromkeys(
        (
            "hidden",
            "hyper_hidden",
            "icl_dim",
            "l2o_hidden",
            "lstm_embed",
            "lstm_hidden",
            "mann_controller",
            "mann_width",
            "mann_slots",
            "mlp_hidden",
            "np_hidden",
            "np_latent",
            "optimizee_hidden",
            "optimizee_channels",
            "relation_hidden",
            "versa_hidden",
            "quad_dim",
            "linreg_dim",
            "input_dim",
            "max_example_tokens",
        ),
        WIDTH,
    ),
    **dict.fromkeys(("hyper_rank", "icl_label_dim"), OPTIONAL_WIDTH),
    **dict.fromkeys(
        ("icl_heads", "icl_layers", "l2o_layers", "mann_heads", "np_heads", "np_encoder_layers", "np_decoder_layers"),
        DEPTH,
    ),
    **dict.fromkeys(("policy_layers", "finetune_layers", "icl_embed_layers"), OPTIONAL_DEPTH),
    **dict.fromkeys(
        ("inner_steps", "test_inner_steps", "head_steps", "transductive_steps", "fce_steps", "eval_steps"), STEPS
    ),
    **dict.fromkeys(
        (
            "np_samples",
            "np_train_samples",
            "versa_samples",
            "versa_eval_samples",
            "siamese_pairs",
            "rl2_episodes",
            "outer_epochs",
            "val_problems",
            "eval_problems",
            "tune_problems",
            "optimizee_batch",
            "horizon_mult",
        ),
        COUNT,
    ),
    "meta_batch": (1, 100_000, "episodes per meta-batch"),
    **dict.fromkeys(("bandit_arms", "optimizee_ways", "lstm_max_ways", "mann_max_ways", "icl_max_ways"), CLASSES),
}


def check_limits(cfg: dict[str, Any]) -> None:
    """Refuse an integer setting outside its range in `LIMITS`, naming the key, the range and how to set it."""
    for key, (low, high, what) in LIMITS.items():
        value = cfg.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise ValueError(
                f"{key} must be an integer from {low:,} to {high:,} ({what}), got {value:,}; set it with --set {key}=N."
            )
