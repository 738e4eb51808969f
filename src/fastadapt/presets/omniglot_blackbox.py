"""Model-based and black-box learners on Omniglot (vinyals split, 28x28; issue 6).

- ``omniglot-mann-5class`` / ``-15class``: MANN (Santoro 2016) trained on sequences of 5 (15) classes
  with 10 drawings each (1 labelled + 9 more per class, shuffled in time); tested episodically 5-way
  (15-way) 1-shot. `benchmarks/mann_omniglot.py` reports the paper's instance accuracies.
  Santoro trained for 100,000 episodes; these presets are sized for a CPU budget (see the benchmark).
- ``omniglot-hypernet-{5,20}w1s`` and ``omniglot-lstm-{5,20}w1s``: trained with the test-time ways and
  shots (the LSTM learner's label units are sized by the ways), Adam 1e-3 halved every 1,000 episodes; the
  LSTM learner's recurrent part learns at 0.1x (5-way) / 0.03x (20-way) that rate and reads out by cosine (at
  20 ways, 1,000 episodes: 21.4% with rate 1 and a dot product, 50.0% cosine, 85.4% at 0.1x, 90.3% at 0.03x).
  At 20 ways it embeds to 24 features (480 LSTM cells): 89.8% against 90.3% with 32 (640 cells) and 88.9% with
  16 (320 cells), and a recurrent matrix 0.56x as large, which brings its adaptation latency within the
  10x-below-MAML goal (`results/adaptation_latency_20w_e24.json`).
"""

from . import episodes, register, schedule

for _n in (5, 15):
    register(
        f"omniglot-mann-{_n}class",
        f"MANN with LRUA memory (Santoro 2016), Omniglot {_n}-class sequences of 10 drawings per class; "
        f"tested {_n}-way 1-shot",
        method="mann",
        **episodes(_n, 1, 9, queries=9),
        **schedule(4000, 1e-3, 100000, meta_batch=16, val_episodes=100, eval_episodes=600),
        extra={
            "mann_encoder": "pixels",
            "mann_controller": 200,
            "mann_slots": 128,
            "mann_width": 40,
            "mann_heads": 4,
            "mann_gamma": 0.95,
            "mann_max_ways": _n,
            "mann_erase": "heads",
            "mann_shift": 0,
            "mann_rotate": 0.0,
            "mann_freeze_encoder": False,
        },
    )

for _w in (5, 20):
    _training = dict(**episodes(_w, 1, 15), **schedule(3000, decay_every=1000, meta_batch=4 if _w == 5 else 1))
    register(
        f"omniglot-hypernet-{_w}w1s",
        f"Deep-Sets hypernetwork generating the classifier layer (Ha 2017; Zhmoginov 2022), Conv4, "
        f"trained and tested {_w}-way 1-shot",
        method="hypernet",
        extra={"hyper_hidden": 256, "hyper_rank": 0},
        **_training,
    )
    register(
        f"omniglot-lstm-{_w}w1s",
        f"LSTM meta-learner reading (embedding, one-hot label) support sequences (Hochreiter 2001), "
        f"Conv4, trained and tested {_w}-way 1-shot, support order shuffled in training",
        method="lstm",
        extra={
            "lstm_embed": 64 if _w == 5 else 24,
            "lstm_hidden": 320 if _w == 5 else 480,  # ways x embed
            "lstm_max_ways": _w,
            "lstm_shuffle": True,
            "lstm_binding": "outer",
            "lstm_lr_scale": 0.1 if _w == 5 else 0.03,
            "lstm_readout": "cosine",
        },
        **_training,
    )  # blackbox_omniglot.py
