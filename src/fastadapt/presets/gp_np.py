"""Neural processes on 1-D GP regression (Garnelo et al., 2018a/b): EQ kernel (length-scale 0.4, scale 1.0),
noise std 0.02, x ~ U(-2, 2); 3-50 context points (drawn per batch), 50 disjoint targets at test time.
Adam on 16 functions per step, 40,000 steps (lr 1e-3 halved every 10,000; 1e-3 learned faster than 5e-4 in
2,000-step trials): about 8 (CNP) / 15 (NP) / 28 (ANP) minutes of one free CPU core; the papers train
100,000+ steps. `--set steps=...` changes the budget; `--set np_hidden=256 --set np_decoder_layers=4` gives the
wider, deeper network (closer to Bruinsma 2022's width 256 and 6 decoder layers) that benchmarks/gp_np.py trains
for the published comparison, ~3x the cost per step."""

from . import episodes, register, schedule

GP_TASKS = dict(
    dataset="gp",
    **episodes(None, "3-50", "1-50", queries=50),
    **schedule(40000, 1e-3, 10000, 500, 5000, 5000, lr_decay=0.5, meta_batch=16, val_episodes=500, eval_episodes=2000),
)
GP_EXTRA = {
    "gp_kernel": "eq",
    "gp_length_scale": 0.4,
    "gp_scale": 1.0,
    "gp_period": 1.0,
    "gp_noise": 0.02,
    "np_hidden": 128,
    "np_decoder_layers": 2,
    "train_on_context": True,
    "np_min_std": 0.1,
}

register(
    "gp-cnp",
    "Conditional Neural Process (Garnelo 2018a) on 1-D EQ-kernel GP functions, 3-50 context points",
    method="cnp",
    extra={**GP_EXTRA, "np_encoder_layers": 4},
    **GP_TASKS,
)
NP_EXTRA = {
    **GP_EXTRA,
    "np_encoder_layers": 3,
    "np_latent": 128,
    "np_samples": 32,
    "np_train_samples": 1,
    "np_attention": False,
    "np_heads": 8,
}
register(
    "gp-np",
    "Latent Neural Process with deterministic path (Garnelo 2018b), ELBO, on 1-D EQ-kernel GP functions",
    method="np",
    extra=NP_EXTRA,
    **GP_TASKS,
)
register(
    "gp-anp",
    "Attentive Neural Process (Kim 2019): latent NP with self- and cross-attention deterministic path",
    method="np",
    extra={**NP_EXTRA, "np_attention": True},
    **GP_TASKS,
)
