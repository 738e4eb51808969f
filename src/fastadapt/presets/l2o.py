"""Learning to optimize (Andrychowicz 2016): a coordinatewise two-layer LSTM (20 units, gradient
preprocessing with p=10, output scale 0.1) meta-trained with Adam by truncated BPTT, 20-step unrolls over
100-step optimizations; tested on held-out problems at 100 and 500 steps against SGD, momentum, Adam and
RMSprop tuned per family on a learning-rate grid. `--set l2o_net=mlp` trains the feature-MLP optimizer
(Metz 2020; Harrison 2022) instead. These presets use `fastadapt.optim` (key ``trainer: l2o``)."""

from . import register, schedule

L2O = {
    "trainer": "l2o",
    "l2o_net": "lstm",
    "family": "quadratic",
    "transfer_families": "",
    "unroll": 20,
    "horizon": 100,
    "horizon_mult": 5,
    "second_order": False,
    "l2o_hidden": 20,
    "l2o_layers": 2,
    "preprocess_p": 10.0,
    "out_scale": 0.1,
    "decays": "0.5,0.9,0.99,0.999",
    "dir_scale": 0.01,
    "mag_scale": 0.1,
    "val_problems": 20,
    "eval_problems": 32,
    "tune_problems": 10,
    "lr_grid": "",
    "quad_dim": 10,
    "optimizee_ways": 10,
    "optimizee_hidden": 20,
    "optimizee_channels": 8,
    "optimizee_batch": 64,
}

register(
    "l2o-quadratic",
    "Learned LSTM optimizer (Andrychowicz 2016) on random 10-d quadratics ||W theta - y||^2; 100-step horizon",
    extra=L2O,
    method="l2o",
    **schedule(1000, 3e-3, 400, 25, 100, 100, lr_decay=0.5),
)

register(
    "l2o-mlp-omniglot",
    "Learned LSTM optimizer (Andrychowicz 2016) on 784-20-10 sigmoid MLPs classifying 10 Omniglot "
    "characters (28x28); transfer to a small conv net",
    extra={
        **L2O,
        "family": "mlp-omniglot",
        "transfer_families": "conv-omniglot",
        "val_problems": 5,
        "eval_problems": 24,
    },
    method="l2o",
    **schedule(300, 1e-3, 150, 10, 50, 50, lr_decay=0.5),
)
