"""fastadapt.cpu_memory: after reuse_freed_memory, freeing and re-allocating a large tensor stops page-faulting."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

CHILD = """
import json, resource, sys, torch
from fastadapt.cpu_memory import reuse_freed_memory
on = reuse_freed_memory() if sys.argv[1] == "on" else False
torch.empty(1).fill_(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    x = torch.empty(16 * 2**20).fill_(1.0)      # 64 MB, written, then freed
    del x
print(json.dumps({"on": on, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
                  "again": reuse_freed_memory() if on else None}))
"""


def faults(mode: str, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    default, reused = faults("off"), faults("on")
    assert reused["on"] is True and reused["again"] is True  # in effect, and idempotent
    pages = 10 * 64 * 2**20 // 4096
    assert default["faults"] > 0.8 * pages  # every 64 MB block faulted in anew
    assert reused["faults"] < 0.2 * pages  # the first block, then reused


def test_environment_variable_turns_it_off():
    off = faults("on", {"FASTADAPT_REUSE_FREED_MEMORY": "0"})
    assert off["on"] is False
    assert off["faults"] > 0.8 * 10 * 64 * 2**20 // 4096
