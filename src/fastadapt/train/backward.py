"""The meta-gradient of a batch of tasks, back-propagated chunk by chunk when the learner asks for it."""

from __future__ import annotations

from ..learners.base import Learner
from ..tasks.task import TaskBatch


def meta_backward(learner: Learner, batch: TaskBatch) -> dict[str, float]:
    """Back-propagates ``learner.meta_loss(batch)`` into the parameters' ``.grad`` (accumulating, as
    ``loss.backward()`` does: zero them first) and returns its metrics.

    When `Learner.backward_chunk` names fewer tasks than the batch holds, each chunk of that many tasks is run and
    back-propagated before the next one starts, so only one chunk's graph is alive at a time (peak memory of the
    chunk, not of the meta-batch). The gradient is the same sum, and the metrics (means over tasks) are the chunks'
    means weighted by their sizes; the chunks count as one meta-iteration (`Learner.one_meta_iteration`)."""
    size = learner.backward_chunk(batch)
    if size is None or size >= len(batch):
        loss, metrics = learner.meta_loss(batch)
        loss.backward()
        return metrics
    totals: dict[str, float] = {}
    with learner.one_meta_iteration():
        for part in batch.chunks(size):
            weight = len(part) / len(batch)
            loss, metrics = learner.meta_loss(part)
            (loss * weight).backward()
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + v * weight
    return totals
