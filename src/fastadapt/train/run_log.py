"""A run folder's bookkeeping for the one meta-training loop (`train.loop`): preparing the folder, resuming from
``last.safetensors`` (model, optimizer, step, best score, elapsed time) or starting from another run's weights
(``init_from``), the log / validate / checkpoint cadence, and ``metrics.jsonl`` (per-iteration metrics averaged
over each logging window). A resumed run logs exactly what an uninterrupted one does, because ``ckpt_every`` is a
multiple of ``log_every``."""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from ..io import atomic_write_bytes
from ..presets import PRESETS, get_preset

LAST, BEST = "last.safetensors", "best.safetensors"
BENCHMARK = "benchmark.json"  # a benchmark script's record of the run, beside the trainer's own results.json
CALIBRATION = "calibration.json"  # `fastadapt calibrate`'s temperature for the best checkpoint (read by load_run)
# The files a run writes: one of them in --out means the folder belongs to a run (see prepare_out).
RUN_FILES = ("config.json", "metrics.jsonl", BEST, LAST, "results.json", "summary.txt", BENCHMARK, CALIBRATION)


def git_commit() -> str:
    """The commit of the running code ($FASTADAPT_COMMIT where the checkout has no .git)."""
    if os.environ.get("FASTADAPT_COMMIT"):
        return os.environ["FASTADAPT_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; elsewhere what `platform.processor` knows, maybe nothing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> str:
    """What ran it: architecture, CPU model and whether it has AMX (bf16 is fast only with it, issue #33), cores,
    torch version, threads and GPU. Hosts of one name differ: timings compare only within one record's machine."""
    from ..nn.episodic import cpu_has_amx

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    threads = torch.get_num_threads()
    cpu = f"{cpu_model() or 'unknown CPU'} ({'AMX' if cpu_has_amx() else 'no AMX'})"
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads{gpu}"


def provenance(start: float) -> dict[str, Any]:
    """The record every results file ends with: commit, machine, and wall time since ``start`` (time.time())."""
    return {"commit": git_commit(), "machine": machine(), "wall_seconds": round(time.time() - start, 1)}


def write_benchmark_record(folder: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write a benchmark script's record of the run in ``folder`` (``benchmark.json``, atomically); the trainer's
    ``results.json`` stays as the trainer wrote it, so every run folder's results have one schema."""
    path = Path(folder) / BENCHMARK
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


def read_benchmark_record(folder: str | os.PathLike) -> dict[str, Any]:
    """A benchmark script's record of the run in ``folder``: ``benchmark.json``, or for runs made before it existed,
    the ``results.json`` the script wrote over the trainer's."""
    folder = Path(folder)
    for name in (BENCHMARK, "results.json"):
        if (folder / name).exists():
            return json.loads((folder / name).read_text())
    raise FileNotFoundError(f"{folder} holds no finished run (no {BENCHMARK} or results.json); train it first.")


def prepare_out(out: Path, resume: bool, overwrite: bool = False) -> None:
    """Create the run folder and remove the temporary files a killed write left there. Refuse a read-only
    folder, or one holding any of ``RUN_FILES`` unless resuming it or replacing it (``overwrite``: those files
    are deleted here, so call this only once the new configuration has been validated)."""
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it; pass only one.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"Cannot create run folder {out}: {e.strerror}.") from None
    if not os.access(out, os.W_OK) or not (out.stat().st_mode & 0o200):
        raise PermissionError(f"Run folder {out} is read-only; choose another --out.")
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and not (resume or overwrite):
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(found)}). Pass --resume to continue it, "
            f"--overwrite to delete those files and start again, or choose another --out."
        )
    if overwrite:
        for name in found:
            (out / name).unlink()
    (out / CALIBRATION).unlink(missing_ok=True)  # fitted to a checkpoint that training is about to replace
    remove_stale_temporaries(out)


def read_calibration(folder: str | os.PathLike) -> float:
    """The calibration temperature `fastadapt calibrate` stored in a run folder (1.0, no change, when there is none)."""
    path = Path(folder) / CALIBRATION
    if not path.exists():
        return 1.0
    try:
        t = float(json.loads(path.read_text())["temperature"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path} is not a calibration record ({type(e).__name__}: {e}); delete it, or fit it again with "
            f"`fastadapt calibrate {folder}`."
        ) from None
    if not (math.isfinite(t) and t > 0):
        raise ValueError(
            f"{path} holds temperature {t}, not a positive number; fit it again with `fastadapt calibrate`."
        )
    return t


def remove_stale_temporaries(out: Path) -> None:
    """Delete the ``.<name>.*.tmp`` files of atomic writes (`fastadapt.io`) that a killed run left in ``out``."""
    for tmp in out.glob(".*.*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (empty when it has none). A torn last line (a run killed while
    appending it) is dropped with a warning on stderr; a damaged line before it is a ValueError."""
    path = Path(path)
    if not path.exists():
        return []
    lines = [(n, ln) for n, ln in enumerate(path.read_text(errors="replace").splitlines(), 1) if ln.strip()]
    records = []
    for n, ln in lines:
        record = _log_record(ln)
        if record is None and n == lines[-1][0]:
            print(
                f"fastadapt: warning: {path}, line {n}: dropped a half-written last record (the run was "
                f"stopped while writing it).",
                file=sys.stderr,
            )
        elif record is None:
            raise ValueError(
                f"{path}, line {n}: not a JSON object, expected one metrics record per line. The log "
                f"is damaged; repair or delete that line, or start again with --overwrite."
            )
        else:
            records.append(record)
    return records


def _log_record(line: str) -> dict[str, Any] | None:
    """One ``metrics.jsonl`` line as a record, or None when it is not a JSON object."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """A run's ``config.json``; a ValueError naming the file when it is not valid JSON or not an object."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_bytes())
    except ValueError as e:
        raise ValueError(
            f"{path} is not valid JSON ({e}). Restore it (it is the run's configuration, as "
            f"`fastadapt train` wrote it) or train the run again with --overwrite."
        ) from None
    if not isinstance(cfg, dict):
        raise ValueError(
            f"{path} holds a JSON {type(cfg).__name__}, expected an object of configuration keys "
            f"(as `fastadapt train` writes it). Restore it or train the run again with --overwrite."
        )
    check_saved_config(cfg, path)
    return cfg


_KINDS = {bool: "a bool", int: "an int", float: "a number", list: "a list"}


def _wrong_kind(value: Any, want: Any) -> bool:
    """Whether ``value`` cannot stand where the preset has ``want``: a number, bool or list of another kind (strings
    are not compared: some keys take a number or a text form, e.g. a range "1-50")."""
    if isinstance(want, bool):
        return not isinstance(value, bool)
    if isinstance(want, (int, float)):
        return (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(want, int) and isinstance(value, float))
        )
    return isinstance(want, list) and not isinstance(value, list)


def check_saved_config(cfg: dict[str, Any], path: str | os.PathLike) -> None:
    """A saved configuration names its method, and the numbers, booleans and lists of its preset's keys hold values
    of those types (a hand-edited ``"hidden": "8"`` would otherwise fail deep inside torch)."""
    if not isinstance(cfg.get("method"), str):
        raise ValueError(
            f"{path} names no 'method' (got {cfg.get('method')!r}), so it is no configuration "
            f"`fastadapt train` wrote. Restore it or train the run again with --overwrite."
        )
    ref = get_preset(cfg["preset"]) if cfg.get("preset") in PRESETS else {}
    for key, value in cfg.items():
        want = ref.get(key)
        if want is not None and value is not None and _wrong_kind(value, want):
            raise ValueError(
                f"{path}: {key!r} is {value!r} ({type(value).__name__}), expected "
                f"{_KINDS[type(want)]} like the preset's {want!r}. Restore the file (as `fastadapt "
                f"train` wrote it) or train the run again with --overwrite."
            )


def truncate_log(path: Path, step: int) -> None:
    """Drop the records a killed run wrote after its last checkpoint (``step``), and a torn last line."""
    if path.exists():
        keep = [json.dumps(r) for r in read_log(path) if r["step"] <= step]
        atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


def check_resumable(saved: dict[str, Any], cfg: dict[str, Any], step: int) -> None:
    """A run resumes with its own configuration, or extends to more ``steps``: the step-indexed task draws and
    learning-rate schedule then train it exactly like a run of that length from the start (only an extra
    validation at the old last step, if that was not a validation step, can differ). ``max_train_seconds`` may
    change too (a time cap decides where a run stops, never what a step computes): a time-capped run continues in
    later sessions with a larger cap."""
    saved = {**_options_added_since(saved), **saved}
    diff = sorted(k for k in set(cfg) | set(saved) if cfg.get(k) != saved.get(k) and k != "max_train_seconds")
    if diff == ["steps"]:
        if cfg["steps"] < step:
            raise ValueError(
                f"--resume with steps={cfg['steps']}, but the run has already done {step} steps; "
                f"to extend it pass steps >= {step}."
            )
    elif diff:
        raise ValueError(
            f"--resume with a different configuration (keys {diff}); resume with the same one "
            f"(only 'steps' may grow, to extend a run, and max_train_seconds change)."
        )


def _options_added_since(saved: dict[str, Any]) -> dict[str, Any]:
    """Options of the run's preset that its saved configuration predates, at their preset values (the
    behaviour the run was trained with, since options are added with the old behaviour as default)."""
    name = saved.get("preset")
    return {k: v for k, v in get_preset(name).items() if k not in saved} if name in PRESETS else {}


def run_checkpoint(source: str | os.PathLike, key: str) -> Path:
    """The checkpoint a config key (``init_from``, ``encoder_from``) names: a run folder's best, or a file."""
    path = Path(source)
    if path.is_dir():
        path = path / BEST
    if not path.exists():
        raise FileNotFoundError(
            f"{key}={str(source)!r}: no checkpoint at {path}. Pass a run folder that holds "
            f"{BEST}, or a .safetensors checkpoint written by fastadapt."
        )
    return path


def init_weights(model: nn.Module, source: str | os.PathLike) -> None:
    """Start a run from trained weights (config key ``init_from``: a run folder, whose best checkpoint is read,
    or a checkpoint file) with a fresh optimizer: fine-tuning, or a curriculum stage that continues a model
    under a new configuration (e.g. more classes per episode). The architecture must be the same."""
    load_checkpoint(run_checkpoint(source, "init_from"), model)


def init_encoder(model: nn.Module, source: str | os.PathLike) -> None:
    """Start ``model.encoder`` from the ``encoder`` of another run (config key ``encoder_from``: a run folder or
    checkpoint file), e.g. the Conv4 of a trained Prototypical Network under a MANN; the rest of ``model`` keeps
    its initialization. Both encoders must have the same architecture."""
    encoder = getattr(model, "encoder", None)
    want = encoder.state_dict() if isinstance(encoder, nn.Module) else {}
    if not want:
        raise ValueError(
            f"encoder_from={str(source)!r}: this model ({type(model).__name__}) has no learned "
            f"`encoder` to load into (for the MANN set mann_encoder=conv4)."
        )
    path = run_checkpoint(source, "encoder_from")
    tensors, header = read_checkpoint(path)
    prefix = "model.encoder."
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    if set(state) != set(want) or any(state[k].shape != v.shape for k, v in want.items()):
        made_by = header["meta"].get("config", {}).get("method", "?")
        raise CheckpointError(
            f"{path} (method {made_by!r}) has no encoder shaped like this model's "
            f"({len(state)} encoder entries there, {len(want)} here). Pick a run trained with "
            f"the same encoder (e.g. Conv4, same hidden width and channels)."
        )
    encoder.load_state_dict(state)


def write_config(out: Path, cfg: dict[str, Any]) -> None:
    """The run's ``config.json``, with the commit that names the code it came from (not part of the config)."""
    atomic_write_bytes(out / "config.json", json.dumps(dict(cfg, commit=git_commit()), indent=1).encode())


def apply_init_sources(cfg: dict[str, Any], model: nn.Module) -> None:
    """Start ``model`` from the weights the config names: ``init_from`` (all of them), then ``encoder_from``."""
    if cfg.get("init_from"):
        init_weights(model, cfg["init_from"])
    if cfg.get("encoder_from"):
        init_encoder(model, cfg["encoder_from"])


def check_init_sources(cfg: dict[str, Any], model: nn.Module) -> None:
    """Load ``init_from`` / ``encoder_from`` into a copy of ``model``: a missing file or another architecture is
    refused before the run folder is touched (``--overwrite`` deletes nothing for a run that cannot start)."""
    if cfg.get("init_from") or cfg.get("encoder_from"):
        apply_init_sources(cfg, copy.deepcopy(model))


def best_score(meta: dict[str, Any]) -> float:
    """The best validation score (higher is better) a ``last`` checkpoint's header records. Checkpoints written
    before the one training loop keep ``best_val``: a learner's best score, or a learned optimizer's best
    validation *loss* (lower is better), whose score is its negative."""
    if "best_score" in meta:
        return meta["best_score"]
    legacy = meta["best_val"]
    return -legacy if meta["config"].get("trainer") == "l2o" else legacy


class RunLog:
    """Resume state and logging for one run folder; ``best`` is the best validation score so far (higher is
    better). Only the main process (``write``) touches the folder."""

    def __init__(
        self,
        out: Path,
        cfg: dict[str, Any],
        model: nn.Module,
        opt: torch.optim.Optimizer,
        resume: bool,
        write: bool = True,
    ) -> None:
        self.out, self.cfg, self.write_files, self.path = out, cfg, write, out / "metrics.jsonl"
        self.start, self.best, elapsed = 0, -math.inf, 0.0
        if resume and (out / LAST).exists():
            meta = load_checkpoint(out / LAST, model, opt)
            check_resumable(meta["config"], cfg, meta["step"])
            self.start, self.best, elapsed = meta["step"], best_score(meta), meta["elapsed"]
            if write:
                truncate_log(self.path, self.start)
        elif write:
            self.path.unlink(missing_ok=True)
        if not self.start:
            apply_init_sources(cfg, model)
        if write:
            write_config(out, cfg)
        self.t0 = time.perf_counter() - elapsed
        self.window: list[dict[str, float]] = []

    def lr(self, step: int) -> float:
        """The stateless step schedule: ``lr * lr_decay ** (step // lr_decay_every)``."""
        return self.cfg["lr"] * self.cfg["lr_decay"] ** (step // self.cfg["lr_decay_every"])

    def due(self, done: int, every: str, final: bool = False) -> bool:
        """Whether iteration ``done`` (1-based) is a multiple of ``cfg[every]`` or the last one (``final``:
        the run stops here early, at its time limit)."""
        return final or done % self.cfg[every] == 0 or done == self.cfg["steps"]

    def add(self, done: int, metrics: dict[str, float], final: bool = False) -> dict[str, Any]:
        """Add one iteration's metrics; at a logging step return their window average (else ``{}``)."""
        self.window.append(metrics)
        if not self.due(done, "log_every", final):
            return {}
        record = {k: sum(m[k] for m in self.window) / len(self.window) for k in self.window[0]}
        self.window = []
        return record

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def write(self, done: int, record: dict[str, Any], lr: float) -> None:
        """Append ``record`` (if any) to metrics.jsonl with step, learning rate and elapsed time."""
        if record and self.write_files:
            record.update(step=done, lr=lr, time=self.elapsed)
            try:
                with open(self.path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            except OSError as e:
                hint = " The disk is full; free space and continue with --resume." if e.errno == 28 else ""
                raise OSError(e.errno, f"Appending to {self.path} failed: {e.strerror}.{hint}") from e

    def checkpoint(self, done: int, model: nn.Module, opt: torch.optim.Optimizer, final: bool = False) -> None:
        """At a checkpoint step, write ``last.safetensors`` (atomically) for an exact ``--resume``."""
        if self.write_files and self.due(done, "ckpt_every", final):
            save_checkpoint(
                self.out / LAST,
                model,
                {"config": self.cfg, "step": done, "best_score": self.best, "elapsed": self.elapsed},
                opt,
            )
