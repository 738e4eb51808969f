"""MetaICL (Min 2022) with a local Hugging Face causal LM (``--set model_path=FOLDER``, needs
``pip install fastadapt[text]``): meta-trained on k-shot prompts of the 7 CLINC150 training domains (or your
own JSONL tasks: ``tasks_dir``, ``train_tasks``, ``test_tasks``), tested k-shot on the 3 unseen domains.
``shots`` is k; ``metaicl_method`` is ``direct`` or ``channel``. ``ways`` (15: options per CLINC150 domain)
is only reported; the sampler takes the number of options from the tasks."""

from . import NO_DECAY, episodes, register, schedule

register(
    "metaicl",
    "MetaICL: meta-train a local causal LM (model_path) on k-shot prompts of training tasks, "
    "test k-shot on unseen tasks (CLINC150 domains by default)",
    extra={
        "model_path": "",
        "metaicl_method": "direct",
        "max_example_tokens": 64,
        "tasks_dir": "",
        "train_tasks": "",
        "test_tasks": "",
    },
    dataset="text-tasks",
    method="metaicl",
    **episodes(15, 8, 1, queries=4, train_ways=None),
    **schedule(500, 1e-4, NO_DECAY, 25, 100, 100, meta_batch=8, val_episodes=12, eval_episodes=60),
    grad_clip=1.0,  # as Min 2022's code
)
