"""Tutorial 1: a Prototypical Network on Omniglot, with the Python API.

Meta-train ProtoNet (Snell et al. 2017) on the background characters of Omniglot's `vinyals` split, then test it on
5-way 1-shot episodes of characters it has never seen, and classify one episode by hand with
``learner.adapt(support_x, support_y).predict(query_x)``.

    python docs/tutorials/protonet_omniglot.py                               # 600 steps: about 2 min on 2 CPU cores
    FASTADAPT_TUTORIAL_SMALL=1 python docs/tutorials/protonet_omniglot.py    # 30 steps, the CI setting: seconds

Data: the Omniglot archives under $FASTADAPT_DATA/omniglot/ (else ~/.cache/fastadapt/omniglot/, downloaded and
checksummed when missing).
"""

from __future__ import annotations

import os
import time

import torch

import fastadapt
from fastadapt.cpu_memory import reuse_freed_memory
from fastadapt.tasks.omniglot import omniglot_classes
from fastadapt.train.evaluate import evaluate

SMALL = os.environ.get("FASTADAPT_TUTORIAL_SMALL") == "1"
STEPS = 30 if SMALL else 600  # meta-training episodes
TRAIN_WAYS = 20 if SMALL else 60  # Snell et al. train with more classes per episode than they test
TEST_EPISODES = 100 if SMALL else 1000

torch.manual_seed(0)
reuse_freed_memory()  # faster CPU steps in a hand-written loop (see fastadapt.cpu_memory)

# 1. Data: 1,028 training characters x 4 rotations, each with 20 drawings, as one uint8 tensor [M, 1, 28, 28].
train = omniglot_classes("vinyals", "train")
test = omniglot_classes("vinyals", "test")
print(f"Omniglot: {len(train.class_names)} training classes, {len(test.class_names)} test classes")

# 2. Episodes: N-way K-shot tasks with Q queries per class; episode i depends only on (seed, i).
sampler = fastadapt.EpisodeSampler(train.x, train.y, ways=TRAIN_WAYS, shots=1, queries=5, seed=0)

# 3. The learner is an nn.Module whose parameters are the meta-parameters (here a Conv4 encoder).
learner = fastadapt.ProtoNet()
opt = torch.optim.Adam(learner.parameters(), lr=1e-3)

# 4. Meta-training: each step adapts to a batch of episodes and back-propagates the query loss.
learner.train()
start = time.perf_counter()
for step in range(STEPS):
    loss, metrics = learner.meta_loss(sampler.batch(step))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % max(1, STEPS // 6) == 0 or step == STEPS - 1:
        print(f"step {step:4d}  loss {metrics['loss']:.3f}  train accuracy {metrics['acc']:.3f}")
print(f"meta-trained {STEPS} episodes in {time.perf_counter() - start:.1f} s")

# 5. Test on unseen characters: mean accuracy and 95% interval over many 5-way 1-shot episodes.
learner.eval()
test_sampler = fastadapt.EpisodeSampler(test.x, test.y, ways=5, shots=1, queries=15, seed=2017)
res = evaluate(learner, test_sampler, episodes=TEST_EPISODES)
print(
    f"5-way 1-shot test accuracy: {100 * res['accuracy']:.2f} +- {100 * res['ci95']:.2f}% "
    f"over {TEST_EPISODES} episodes (NLL {res['nll']:.3f}, ECE {res['ece']:.3f})"
)

# 6. One task by hand: adaptation is a function from a support set to a predictor.
task = test_sampler.batch(0)[0]  # a Task: support_x [5, 1, 28, 28], query_x [75, 1, 28, 28]
with torch.no_grad():
    predictor = learner.adapt(task.support_x, task.support_y)  # the five prototypes
    probs = predictor.predict(task.query_x).probs  # [75, 5] class probabilities
print(f"one episode by hand: {int((probs.argmax(-1) == task.query_y).sum())} of {len(task.query_y)} queries right")

print(f"RESULT protonet_omniglot_accuracy={res['accuracy']:.4f}")
