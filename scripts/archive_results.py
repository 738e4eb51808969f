"""Keep in results/ only what is cited; record everything else in results/archive.json (issue #32, results hygiene).

Weights: a cited run folder keeps its checkpoints (`*.safetensors`) only when README.md cites it, an issue names it
(WEIGHTS_EXTRA) or code under tests/, src/ or docs/tutorials/ reads it by path; every other cited folder keeps its
numbers, config and curves, and its checkpoints move to git history, listed in archive.json's `weights_in_history`
(path, bytes, the last commit holding them: `git checkout <git_commit> -- <path>`).

results/ keeps one folder (or file) per claim: the entries README.md and docs/*.md cite, and the ones tests/,
benchmarks/, scripts/ or src/fastadapt read by path. Every other tracked entry of results/ becomes one record of
results/archive.json: its numbers (results.json, eval-*.json, other JSON files, result lines of logs; long curves
shortened to their length, first and last value), its config (without the logging and device keys), the command,
commit, machine and times it recorded, the list of its files with their sizes, and `git_commit`: the last commit
whose tree holds the full folder, weights included. To get it back:

    git show <git_commit>:results/<name>/results.json
    git checkout <git_commit> -- results/<name>

Usage (from the repository root; reads JSON and text only, never a checkpoint):

    python scripts/archive_results.py            # print the keep list and write / update results/archive.json
    python scripts/archive_results.py --remove   # the same, then `git rm -r` the archived entries
    python scripts/archive_results.py --check    # exit 1 when archive.json is out of date or an uncited entry remains

Deterministic and idempotent: records are sorted by path, keys sorted; a record whose entry is no longer in the
tree is kept as it is (its `git_commit` was taken while the entry was still there). Untracked entries (a run in
progress) and entries with uncommitted changes are left alone and named.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
ARCHIVE = RESULTS / "archive.json"
DOCS = ["README.md", "docs/*.md"]  # cite by path, by bare name, by glob or by a `-suffix`
CODE = ["tests", "benchmarks", "scripts", "src/fastadapt"]  # read by a literal results/<name> path

# Cited in a way the scan below does not see; name -> who cites it.
EXTRA_KEEP = {
    "gp-np": "docs/results.md, first GP table (`benchmarks/gp_np.py --method cnp|np` writes results/gp-<method>/)",
    "gp-cnp": "docs/results.md, first GP table (`benchmarks/gp_np.py --method cnp|np` writes results/gp-<method>/)",
    "clinc150-summary.json": "docs/results.md, CLINC150 table: the summary its command writes",
    "clinc150-summary-plain.json": "docs/results.md, CLINC150 table: summary of the cited `clinc150-icl-5w1s-plain`",
    "clinc150-summary-3x.json": "docs/results.md, CLINC150 text: summary of the cited `-3x` run",
    "mini-imagenet-protonet-5w1s": "issue #29 names this run folder (the 5w5s weights tested 1-shot) for eval/adapt",
    "blackbox-omniglot-lstm-20w1s-cosine-lr0.03": "docs/results.md (its run folder's results and config are "
    "committed); benchmarks/latency.py's 20-way command",
}
# Run folders whose weights stay in the tree although README.md does not cite them: name -> why.
WEIGHTS_EXTRA = {
    "mini-imagenet-protonet-5w1s": "issue #29 names it for `fastadapt eval` / `adapt`",
    "mini-imagenet-protonet-5w5s": "issue #29 names it for `fastadapt eval` / `adapt`",
    "mini-imagenet-protonet-5w5s-long": "issue #29: the paper-level run, continued with --resume across sessions "
    "(benchmarks/specs/mini-imagenet-protonet-long.toml); its checkpoints are the resume point",
    **{
        f"rl-cheetah-{kind}-{method}": "issue #30: run folders of the meta-RL presets with small checkpoints"
        for kind in ("vel", "dir")
        for method in ("maml", "pretrained", "random")
    },
    "cheetah-long": "issue #30: the HalfCheetah runs at the longer budget (benchmarks/rl_cheetah.py --results "
    "results/cheetah-long), small checkpoints",
}
WEIGHT_READERS = ["README.md", "tests", "src/fastadapt", "docs/tutorials"]
MAX_TREE_MB = 40.0  # issue #32: results/ at most 40 MB in the tree

# Named by a benchmark only as what it writes, and cited by no document: archived.
OUTPUT_ONLY = {
    "l2o-quadratic-mlp": "benchmarks/l2o.py docstring example output (--set l2o_net=mlp), not cited",
}
CONFIG_DROP = {"log_every", "ckpt_every", "data_root", "device"}
PROVENANCE = ("preset", "command", "commit", "machine", "seed", "wall_seconds", "train_seconds", "train_steps")
MAX_LIST = 16


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout


def braces(s: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", s)
    if not m:
        return [s]
    return [x for alt in m.group(1).split(",") for x in braces(s[: m.start()] + alt + s[m.end() :])]


def citations(entries: list[str]) -> dict[str, list[str]]:
    """entry name -> the files (and words) that cite it."""
    cites: dict[str, set[str]] = {}

    def hit(pattern: str, where: str) -> None:
        for e in entries:
            if fnmatch.fnmatchcase(e, pattern) or fnmatch.fnmatchcase(e, pattern + ".json"):
                cites.setdefault(e, set()).add(where)

    for glob in DOCS:
        for f in sorted(REPO.glob(glob)):
            rel = f.relative_to(REPO).as_posix()
            for tok in re.findall(r"[A-Za-z0-9_.*{},/\-@]+", f.read_text().replace("**", " ")):
                tok = tok.strip(",").rstrip(".")
                suffix = (tok.startswith("-") and not tok.startswith("--")) or tok.startswith("...-")
                for t in braces(tok.lstrip(".")):
                    name = t.removeprefix("results/").split("/")[0].split("@")[0]
                    if len(name.replace("*", "")) >= (6 if "*" in name else 4):  # not `*i*`, `*test*`
                        hit("*" + name if suffix else name, f"{rel} `{t}`")
    for d in CODE:
        for f in sorted((REPO / d).rglob("*")):
            if not f.is_file() or f.suffix not in (".py", ".sh", ".md") or f.resolve() == Path(__file__).resolve():
                continue
            rel = f.relative_to(REPO).as_posix()
            text = f.read_text()
            names = re.findall(r"results/([A-Za-z0-9_.\-]+)", text)
            names += re.findall(r"[\"']results[\"']\s*/\s*[\"']([A-Za-z0-9_.\-]+)[\"']", text)
            for name in names:
                name = name.rstrip(".")
                if name in entries and name not in OUTPUT_ONLY:
                    cites.setdefault(name, set()).add(f"{rel} (path)")
    for name, why in EXTRA_KEEP.items():
        if name in entries:
            cites.setdefault(name, set()).add(why)
    return {k: sorted(v) for k, v in cites.items()}


def weight_keepers(entries: list[str]) -> set[str]:
    """Entries whose checkpoints stay in the tree: cited by path in WEIGHT_READERS, or in WEIGHTS_EXTRA."""
    keep = {n for n in WEIGHTS_EXTRA if n in entries}
    for where in WEIGHT_READERS:
        q = REPO / where
        files = [q] if q.is_file() else [f for f in q.rglob("*") if f.suffix in (".py", ".md", ".sh")]
        for f in files:
            text = f.read_text()
            keep.update(n.rstrip(".") for n in re.findall(r"results/([A-Za-z0-9_.\-]+)", text))
            keep.update(re.findall(r"[\"']results[\"']\s*/\s*[\"']([A-Za-z0-9_.\-]+)[\"']", text))
    return keep & set(entries)


def tracked_weights(name: str) -> list[str]:
    return [f for f in git("ls-files", "-z", "--", f"results/{name}").split("\0") if f.endswith(".safetensors")]


def compact(x: Any) -> Any:
    """The numbers of a results document, with long lists (curves) shortened to length, first and last value."""
    if isinstance(x, dict):
        return {str(k): compact(v) for k, v in x.items()}
    if isinstance(x, list):
        if len(x) > MAX_LIST:
            return {"n": len(x), "first": compact(x[0]), "last": compact(x[-1])}
        return [compact(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def log_lines(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found = [ln for ln in lines if "+-" in ln or "±" in ln]
    return (found or lines[-2:])[:12]


def record(name: str) -> dict[str, Any]:
    path = RESULTS / name
    rec: dict[str, Any] = {
        "path": f"results/{name}",
        "git_commit": git("log", "-1", "--format=%H", "--", f"results/{name}").strip(),
    }
    files = sorted(git("ls-files", "-z", "--", f"results/{name}").split("\0"))
    files = [f for f in files if f]
    if path.is_file():
        rec["kind"] = "results file"
        rec["bytes"] = path.stat().st_size
        doc = json.loads(path.read_text()) if name.endswith(".json") else None
        main, others, configs, logs = doc, {}, {}, {}
    else:
        rec["kind"] = "run folder"
        main, others, configs, logs = None, {}, {}, {}
        for f in files:
            rel = Path(f).relative_to(f"results/{name}").as_posix()
            p = REPO / f
            if rel.endswith("config.json"):
                configs[rel] = json.loads(p.read_text())
            elif rel == "results.json":
                main = json.loads(p.read_text())
            elif rel.endswith(".json"):
                others[rel] = json.loads(p.read_text())
            elif p.suffix in (".log", ".txt") and p.name != "summary.txt":
                logs[rel] = log_lines(p.read_text(errors="replace"))
        rec["files"] = {Path(f).relative_to(f"results/{name}").as_posix(): (REPO / f).stat().st_size for f in files}
    if isinstance(main, dict):
        main = dict(main)
        cfg = main.pop("config", None)
        if isinstance(cfg, dict) and "config.json" not in configs:
            configs["config.json"] = cfg
        for k in PROVENANCE:
            if k in main and not isinstance(main[k], (dict, list)):
                rec[k] = main.pop(k)
        rec["numbers"] = compact(main)
    elif main is not None:
        rec["numbers"] = compact(main)
    if others:
        rec["other_json"] = {
            k: compact({kk: vv for kk, vv in v.items() if kk != "config"} if isinstance(v, dict) else v)
            for k, v in others.items()
        }
    if logs:
        rec["log_lines"] = logs
    cfgs = {k: {kk: vv for kk, vv in v.items() if kk not in CONFIG_DROP} for k, v in configs.items()}
    if set(cfgs) == {"config.json"}:
        rec["config"] = cfgs["config.json"]
    elif cfgs:
        rec["config"] = cfgs
    c = rec.get("config", {})
    if isinstance(c, dict) and "method" in c:
        rec["method"] = c["method"]
        rec.setdefault("preset", c.get("preset"))
    return rec


FIRST = ("path", "kind", "git_commit", "preset", "method")  # a record's leading keys; the rest sorted
ONE_LINE = ("config", "files")  # values written on one line however long


def dumps(x: Any, indent: int = 0, width: int = 118) -> str:
    """JSON, sorted keys; a value that fits on one line stays on one line."""
    one = json.dumps(x, sort_keys=True, ensure_ascii=False)
    if len(one) + indent <= width or not isinstance(x, (dict, list)) or not x:
        return one
    pad = " " * (indent + 1)
    if isinstance(x, dict):
        keys = [k for k in FIRST if k in x] + sorted(k for k in x if k not in FIRST) if "path" in x else sorted(x)
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: "
            + (
                json.dumps(x[k], sort_keys=True, ensure_ascii=False)
                if k in ONE_LINE and "path" in x
                else dumps(x[k], indent + 1, width)
            )
            for k in keys
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + dumps(v, indent + 1, width) for v in x) + "\n" + " " * indent + "]"


ABOUT = (
    "Runs and results files that no document cites, kept as numbers without weights (issue #32). Each record: "
    "path, git_commit (the last commit whose tree holds the full entry, weights included: "
    "`git show <git_commit>:results/<name>/results.json`, `git checkout <git_commit> -- results/<name>`), "
    "its numbers (lists over 16 values shortened to n / first / last), config, command, commit, machine, "
    "times and files (bytes). `weights_in_history`: checkpoints of cited runs that README.md does not cite, "
    "moved out of the tree (path, bytes, git_commit holding them). Written by scripts/archive_results.py."
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--remove", action="store_true", help="git rm -r the archived entries after writing")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the archive is out of date")
    p.add_argument("--quiet", action="store_true", help="do not print the keep list")
    a = p.parse_args()

    tracked = {Path(f).relative_to("results").parts[0] for f in git("ls-files", "-z", "results").split("\0") if f}
    on_disk = sorted(q.name for q in RESULTS.iterdir())
    entries = sorted(set(on_disk) | tracked)
    cites = citations(entries)
    keep, archive, left = [], [], []
    for name in entries:
        if name == ARCHIVE.name:
            continue
        if name not in tracked:
            left.append(f"{name}: not tracked by git (a run in progress?), left alone")
        elif name in cites:
            keep.append(name)
        elif git("status", "--porcelain", "--", f"results/{name}").strip():
            left.append(f"{name}: uncommitted changes, left alone (commit it first)")
        elif (RESULTS / name).exists():
            archive.append(name)

    def size(name: str) -> int:
        q = RESULTS / name
        return q.stat().st_size if q.is_file() else sum(f.stat().st_size for f in q.rglob("*") if f.is_file())

    if not a.quiet:
        print(f"keep ({len(keep)}):")
        for name in keep:
            print(
                f"  {size(name) / 1e6:7.2f} MB  {name}  <- {'; '.join(cites[name][:2])}"
                + (f" (+{len(cites[name]) - 2})" if len(cites[name]) > 2 else "")
            )
    for line in left:
        print("left alone:", line)

    old = json.loads(ARCHIVE.read_text()) if ARCHIVE.exists() else {"entries": []}
    records = {r["path"]: r for r in old["entries"]}
    for name in archive:
        records[f"results/{name}"] = record(name)
    for path in list(records):  # an archived name that is cited again is no longer archive
        name = path.removeprefix("results/")
        if name in keep:
            print(f"note: {path} is cited and in the tree again; its archive record is dropped")
            del records[path]
    weights = {r["path"]: r for r in old.get("weights_in_history", [])}
    keepers = weight_keepers(keep)
    strip = [f for name in keep if name not in keepers for f in tracked_weights(name)]
    for f in strip:
        weights[f] = {
            "path": f,
            "bytes": (REPO / f).stat().st_size,
            "git_commit": git("log", "-1", "--format=%H", "--", f).strip(),
        }
    doc = {
        "about": ABOUT,
        "entries": [records[k] for k in sorted(records)],
        "weights_in_history": [weights[k] for k in sorted(weights)],
    }
    text = dumps(doc) + "\n"
    print(
        f"archive: {len(archive)} entr{'y' if len(archive) == 1 else 'ies'} in the tree to archive, "
        f"{len(records)} records in {ARCHIVE.relative_to(REPO)}"
    )
    for name in archive:
        print(f"  archive {size(name) / 1e6:7.2f} MB  {name}")
    strip_mb = sum((REPO / f).stat().st_size for f in strip) / 1e6
    print(f"weights: {len(strip)} checkpoints of cited runs to move to history ({strip_mb:.1f} MB)")
    tree_mb = sum((REPO / f).stat().st_size for f in git("ls-files", "-z", "results").split("\0") if f) / 1e6
    print(f"results/ in the tree: {tree_mb:.1f} MB (goal <= {MAX_TREE_MB:.0f} MB)")
    if a.check:
        stale = not ARCHIVE.exists() or ARCHIVE.read_text() != text
        if stale or archive or strip or tree_mb > MAX_TREE_MB:
            print(
                "out of date:"
                + (" archive.json differs;" if stale else "")
                + (f" {len(archive)} uncited entries still in results/;" if archive else "")
                + (f" {len(strip)} checkpoints of runs README.md does not cite;" if strip else "")
                + (f" results/ is {tree_mb:.1f} MB" if tree_mb > MAX_TREE_MB else "")
            )
            return 1
        return 0
    ARCHIVE.write_text(text)
    if a.remove and (archive or strip):
        if archive:
            git("rm", "-r", "-q", "--", *[f"results/{n}" for n in archive])
        if strip:
            git("rm", "-q", "--", *strip)
        print(f"git rm: {len(archive)} entries, {len(strip)} checkpoints (they stay in history at their git_commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
