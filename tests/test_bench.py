"""fastadapt bench: declarative benchmark specs (fastadapt.train.bench)."""

import json
from pathlib import Path

import pytest

from fastadapt.cli import main
from fastadapt.train.bench import BenchMismatch, bench, load_spec
from fastadapt.train.measures import pick

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
    tampered["tests"][1]["score"] += 0.01
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


def test_the_cli_takes_several_specs_in_order_and_refuses_one_out_file_for_them(
    tmp_path, data_root, capsys, monkeypatch
):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one, two = write_spec(tmp_path / "a"), write_spec(tmp_path / "b", SPEC.replace('"tiny"', '"other"'))
    bench(one, out=tmp_path / "unused.json"), bench(two, out=tmp_path / "unused.json")  # train both runs
    monkeypatch.chdir(tmp_path)  # the records go to ./results/bench/
    capsys.readouterr()
    assert main(["bench", str(one), str(two), "--no-train", "--out", str(tmp_path / "r.json")]) == 2
    assert "--out names one results file, but 2 specs" in capsys.readouterr().err
    assert main(["bench", str(one), str(two), "--no-train"]) == 0
    assert (tmp_path / "results" / "bench" / "other.json").exists()
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in out] == ["tiny 5w1s", "tiny 5w5s", "other 5w1s", "other 5w5s"]


def test_the_cli_prints_one_line_per_test(tmp_path, data_root, capsys):
    spec = write_spec(tmp_path)
    assert main(["bench", str(spec), "--out", str(tmp_path / "r.json")]) in (0, None)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("tiny 5w1s: ") and "A paper 98.8" in out[0] and "goal 101 not met" in out[0]
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
    with pytest.raises(ValueError, match=r"unknown metric \['f1'\]; use one of"):
        load_spec(write_spec(tmp_path, SPEC.replace("shots = 5", 'shots = 5\nmetric = "f1"')))
    with pytest.raises(ValueError, match="gives \\['1', '2'\\], not '3'; set value"):
        pick({"1": (0.5, 0.1), "2": (0.9, 0.1)}, "instance_accuracy", "3", "x")


GP_SPEC = """
name = "gp"
preset = "gp-cnp"
settings = ["steps=30", "log_every=10", "ckpt_every=30", "val_every=30", "val_episodes=4", "eval_episodes=20"]
run = "{run}"

[[tests]]
label = "KL"
metric = "kl_to_gp"
episodes = 30

[[tests]]
label = "KL marginal"
metric = "kl_to_gp"
value = "marginal"
episodes = 30

[goals]
KL = 100.0
"KL marginal" = 0.0
"""


def test_a_regression_spec_reports_the_gap_to_the_exact_gp_lower_is_better(tmp_path):
    from fastadapt.tasks import build_sampler
    from fastadapt.train.gp_oracle import GAP_JOINT, GAP_MARGINAL, evaluate_against_oracle
    from fastadapt.train.trainer import load_run

    record = bench(write_spec(tmp_path, GP_SPEC), out=tmp_path / "gp.json")
    learner, cfg = load_run(tmp_path / "run")
    test = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
    direct = evaluate_against_oracle(learner, test, 30, seed=cfg["seed"])
    kl, marginal = record["tests"]
    assert (kl["value"], kl["score"], kl["ci95"]) == ("joint", direct[GAP_JOINT]["mean"], direct[GAP_JOINT]["ci95"])
    assert marginal["score"] == direct[GAP_MARGINAL]["mean"] and "accuracy" not in kl
    rows = {r["label"]: r for r in record["comparison"]}
    assert rows["KL"]["unit"] == "" and rows["KL"]["ours"] == round(kl["score"], 3)
    assert rows["KL"]["met"] is True and rows["KL marginal"]["met"] is False  # lower is better: 0 is out of reach


def test_the_committed_specs_load():
    specs = sorted((ROOT / "benchmarks" / "specs").glob("*.toml"))
    assert specs and all(load_spec(p).tests for p in specs)


def untrained_spec(preset: str, settings: list[str], tests: str) -> str:
    sets = ", ".join(f'"{s}"' for s in ["steps=0", "device=cpu", *settings])
    return f'name = "u"\npreset = "{preset}"\nsettings = [{sets}]\nrun = "{{run}}"\n{tests}'


def test_a_memory_network_spec_reports_santoros_instance_accuracy(tmp_path, data_root):
    from fastadapt.learners.mann import instance_accuracy
    from fastadapt.tasks.sequence import omniglot_sequences
    from fastadapt.train.trainer import load_run

    tests = '[[tests]]\nlabel = "2nd"\nmetric = "instance_accuracy"\nvalue = "2"\nways = 3\nepisodes = 12\n'
    tests += '[[tests]]\nlabel = "10th"\nmetric = "instance_accuracy"\nvalue = "10"\nways = 3\nepisodes = 12\n'
    spec = untrained_spec("omniglot-mann-5class", ["eval_episodes=4", "val_episodes=4"], tests)
    record = bench(write_spec(tmp_path, spec), out=tmp_path / "m.json")
    learner, cfg = load_run(tmp_path / "run")
    direct = instance_accuracy(learner, omniglot_sequences(cfg, "test", 3, 10, seed=cfg["eval_seed"]), 12)
    assert [t["score"] for t in record["tests"]] == [direct["2"]["accuracy"], direct["10"]["accuracy"]]
    assert record["comparison"][0]["unit"] == "%"


def test_a_meta_rl_spec_reports_the_return_of_each_adaptation_stage(tmp_path):
    from fastadapt.rl.evaluate import evaluate_rl
    from fastadapt.tasks import build_sampler
    from fastadapt.train.trainer import load_run

    tests = '[[tests]]\nlabel = "before"\nmetric = "return"\nvalue = "0 steps"\nepisodes = 4\n'
    tests += '[[tests]]\nlabel = "last"\nmetric = "return"\nepisodes = 4\n'  # no value: the last stage
    settings = ["eval_episodes=4", "val_episodes=4", "shots=2", "queries=2"]
    record = bench(write_spec(tmp_path, untrained_spec("rl-2dnav-maml", settings, tests)), out=tmp_path / "r.json")
    learner, cfg = load_run(tmp_path / "run")
    direct = evaluate_rl(learner, build_sampler(cfg, "test", None, 2, 2, cfg["eval_seed"]), 4)
    before, last = record["tests"]
    assert (before["score"], before["ci95"]) == (direct["returns"][0], direct["returns_ci95"][0])
    assert (last["value"], last["score"]) == (direct["stages"][-1], direct["returns"][-1])
    assert "shots" not in last and record["comparison"][0]["unit"] == ""  # the record holds what the metric read
