"""fastadapt bench: declarative benchmark specs (fastadapt.train.bench)."""

import json
from pathlib import Path

import pytest

from fastadapt.cli import main
from fastadapt.train.bench import BenchMismatch, bench, load_spec

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
name = "tiny"
preset = "omniglot-protonet-5w1s"
settings = ["steps=20", "log_every=10", "ckpt_every=10", "val_every=10", "val_episodes=4", "eval_episodes=30",
            "train_ways=5", "device=cpu"]
run = "{run}"

[[tests]]
label = "5w1s"
shots = 1
episodes = 30

[[tests]]
label = "5w5s"
shots = 5
episodes = 20

[papers."A paper"]
5w1s = [98.8, 0.2]

[goals]
5w1s = 101.0
5w5s = 20.0
"""


def write_spec(tmp_path, text=SPEC):
    path = tmp_path / "tiny.toml"
    path.write_text(text.format(run=tmp_path / "run"))
    return path


def test_a_spec_trains_tests_and_compares_and_a_rerun_gives_the_same_numbers(tmp_path, data_root):
    spec = write_spec(tmp_path)
    record = bench(spec, out=tmp_path / "a.json")
    trained = json.loads((tmp_path / "run" / "results.json").read_text())
    one = record["tests"][0]
    assert record["train_steps"] == 20 and (one["shots"], one["episodes"]) == (1, 30)
    assert one["accuracy"] == trained["accuracy"]  # the trainer's own test: the same 30 episodes
    rows = {r["label"]: r for r in record["comparison"]}
    assert rows["5w1s"]["A paper"] == [98.8, 0.2] and rows["5w1s"]["met"] is False
    assert rows["5w5s"]["met"] is True and rows["5w5s"]["ours"] > 20.0  # 5-shot after 20 steps: above chance
    again = bench(spec, train_run=False, out=tmp_path / "b.json")
    assert again["tests"] == record["tests"]
    bench(spec, train_run=False, out=tmp_path / "a.json", check=True)  # reproduced: passes, writes nothing
    tampered = json.loads((tmp_path / "a.json").read_text())
    tampered["tests"][1]["accuracy"] += 0.01
    (tmp_path / "a.json").write_text(json.dumps(tampered))
    with pytest.raises(BenchMismatch, match="5w5s: committed"):
        bench(spec, train_run=False, out=tmp_path / "a.json", check=True)
    assert json.loads((tmp_path / "b.json").read_text())["command"].endswith("--no-train")


def test_a_test_with_tta_flip_averages_mirror_images_and_leaves_the_others_alone(tmp_path, data_root):
    from fastadapt.tasks import build_sampler
    from fastadapt.train.evaluate import evaluate
    from fastadapt.train.trainer import load_run

    flips = SPEC.split("[papers")[0] + '[[tests]]\nlabel = "5w1s flip"\nshots = 1\nepisodes = 30\ntta_flip = true\n'
    flips += '[[tests]]\nlabel = "5w1s again"\nshots = 1\nepisodes = 30\n'
    record = bench(write_spec(tmp_path, flips), out=tmp_path / "a.json")
    acc = {t["label"]: t["accuracy"] for t in record["tests"]}
    assert acc["5w1s again"] == acc["5w1s"]  # the flip of one test does not leak into the next
    learner, cfg = load_run(tmp_path / "run")
    learner.tta_flip = True
    expected = evaluate(learner, build_sampler(cfg, "test", 5, 1, 15, cfg["eval_seed"]), 30)["accuracy"]
    assert acc["5w1s flip"] == expected


def test_the_cli_prints_one_line_per_test(tmp_path, data_root, capsys):
    spec = write_spec(tmp_path)
    assert main(["bench", str(spec), "--out", str(tmp_path / "r.json")]) in (0, None)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("tiny 5w1s: ") and "A paper 98.80" in out[0] and "goal 101.0 not met" in out[0]
    assert len(out) == 2


def test_bad_specs_are_refused_naming_the_file_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match="not valid TOML"):
        load_spec(write_spec(tmp_path, "name = "))
    with pytest.raises(ValueError, match="lists no"):
        load_spec(write_spec(tmp_path, 'name = "x"\npreset = "p"\nrun = "r"\n'))
    bad = SPEC.replace("episodes = 30", 'episodes = "many"')
    with pytest.raises(ValueError, match="episodes must be an integer"):
        load_spec(write_spec(tmp_path, bad))
    with pytest.raises(ValueError, match=r"name \['5w2s'\]"):
        load_spec(write_spec(tmp_path, SPEC + "5w2s = 3.0\n"))
    with pytest.raises(FileNotFoundError, match="benchmarks/specs"):
        load_spec(tmp_path / "none.toml")


def test_the_committed_specs_load():
    specs = sorted((ROOT / "benchmarks" / "specs").glob("*.toml"))
    assert specs and all(load_spec(p).tests for p in specs)
