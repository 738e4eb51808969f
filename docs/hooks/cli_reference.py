"""MkDocs hook: the CLI reference is generated at build time from fastadapt's own argparse parser and preset
registry, so the documented flags are the real ones.

* ``<!-- fastadapt-cli-help -->`` in a page becomes ``fastadapt --help`` and the ``--help`` of every sub-command.
* ``<!-- fastadapt-presets -->`` becomes the table of presets (``fastadapt presets``).
* ``<!-- fastadapt-set-defaults -->`` becomes the table of the keys every preset has (``--set KEY=VALUE``) and their
  defaults.
* ``<!-- fastadapt-modules PACKAGE: mod1 mod2 ... -->`` becomes one mkdocstrings block ``::: fastadapt.PACKAGE.MOD`` per
  module of the package: the modules named first, in that order, then every other module in ``src/fastadapt/PACKAGE``
  alphabetically, so a new module is in the API reference without editing the page.
* Sphinx roles in docstrings (``:class:`Learner```, ``:meth:``, ``:func:``) render as plain code in the API reference
  (mkdocstrings reads the docstrings as Markdown, which leaves the role name in front of the code).
* Links from docs/results.md to ``../README.md#anchor`` point at the site's home page instead (the README's summary
  table is there as well), so the page builds under ``--strict`` without editing it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
HELP_MARKER = "<!-- fastadapt-cli-help -->"
PRESETS_MARKER = "<!-- fastadapt-presets -->"
DEFAULTS_MARKER = "<!-- fastadapt-set-defaults -->"
MODULES_MARKER = re.compile(r"<!-- fastadapt-modules (\w+):([\w ]*)-->")
HELP_WIDTH = "82"  # argparse wraps at COLUMNS - 2: fits the page's code blocks


def _import_fastadapt() -> None:
    if str(SRC) not in sys.path:  # a build from a checkout without `pip install -e .`
        sys.path.insert(0, str(SRC))


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-parsers on this action
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_help_markdown() -> str:
    _import_fastadapt()
    saved = {k: os.environ.get(k) for k in ("COLUMNS", "NO_COLOR")}
    os.environ["COLUMNS"], os.environ["NO_COLOR"] = HELP_WIDTH, "1"  # stable wrapping, no ANSI colours
    try:
        from fastadapt.cli import parser as build_parser

        root = build_parser()
        parts = ["## `fastadapt`", "", "```text", "$ fastadapt --help", root.format_help().rstrip(), "```", ""]
        for name, sub in _subcommands(root).items():
            parts += [
                f"## `fastadapt {name}`",
                "",
                "```text",
                f"$ fastadapt {name} --help",
                sub.format_help().rstrip(),
                "```",
                "",
            ]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "\n".join(parts)


def presets_markdown() -> str:
    _import_fastadapt()
    from fastadapt.presets import PRESETS, get_preset

    rows = ["| preset | method | what it trains |", "| --- | --- | --- |"]
    for name, p in sorted(PRESETS.items()):
        desc = str(p["description"]).replace("|", "\\|")
        rows.append(f"| `{name}` | `{get_preset(name)['method']}` | {desc} |")
    return "\n".join(rows)


def defaults_markdown() -> str:
    _import_fastadapt()
    from fastadapt.presets import DEFAULTS

    rows = ["| key | default |", "| --- | --- |"]
    for key, value in DEFAULTS.items():
        rows.append(f"| `{key}` | `{value!r}` |")
    return "\n".join(rows)


def package_modules(package: str, first: list[str]) -> list[str]:
    """The modules of ``fastadapt.<package>``: ``first`` (those that exist), then the others alphabetically."""
    present = sorted(p.stem for p in (SRC / "fastadapt" / package).glob("*.py") if p.stem != "__init__")
    return [m for m in first if m in present] + [m for m in present if m not in first]


def modules_markdown(match: re.Match) -> str:
    package, first = match.group(1), match.group(2).split()
    return "\n\n".join(f"::: fastadapt.{package}.{m}" for m in package_modules(package, first))


def on_page_markdown(markdown: str, page, config, files) -> str:
    if HELP_MARKER in markdown:
        markdown = markdown.replace(HELP_MARKER, cli_help_markdown())
    if PRESETS_MARKER in markdown:
        markdown = markdown.replace(PRESETS_MARKER, presets_markdown())
    markdown = MODULES_MARKER.sub(modules_markdown, markdown)
    if DEFAULTS_MARKER in markdown:
        markdown = markdown.replace(DEFAULTS_MARKER, defaults_markdown())
    if page.file.src_uri == "results.md":
        markdown = re.sub(r"\]\(\.\./README\.md(#[\w-]+)?\)", lambda m: f"](index.md{m.group(1) or ''})", markdown)
    return markdown


SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|obj):(<code>)")


def on_page_content(html: str, page, config, files) -> str:
    return SPHINX_ROLE.sub(r"\1", html) if page.file.src_uri.startswith("reference/") else html
