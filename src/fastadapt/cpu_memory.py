"""Keep freed CPU memory for reuse, so training loops stop page-faulting.

PyTorch's CPU tensors come from the C library's ``malloc``. glibc serves large blocks (its threshold starts at
128 KB and adapts up to 32 MB) with fresh ``mmap`` pages and returns them to the system when freed, so a
training step that frees its activations and allocates the same sizes again pays a page fault (and a zeroed
page) per 4 KB each time. With Conv4 at 200 Omniglot images that is 0.12 s of a 0.08 s step, and a MAML
meta-iteration that back-propagates task by task (``GradientLearner``) page-faults about as much.

:func:`reuse_freed_memory` asks glibc (``mallopt``) to serve every size from its heap and to keep what is freed
there for the next allocation: the process's memory then stays at its peak instead of shrinking between steps,
which a training process reaches every step anyway. The PyTorch performance guide's advice (jemalloc or
tcmalloc through ``LD_PRELOAD``) fixes the same thing from outside the process; this works from inside it.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
_done = False


def reuse_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse (no ``mmap`` per large block, no trimming); once
    per process, idempotent. Returns whether it is in effect (False off glibc, e.g. macOS or musl, and with the
    environment variable ``FASTADAPT_REUSE_FREED_MEMORY=0``: nothing is changed then). The fastadapt trainer, its
    budget probe and the CLI call it when they run on the CPU."""
    global _done
    if _done:
        return True
    if os.environ.get("FASTADAPT_REUSE_FREED_MEMORY", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok
