"""The README against the tools, so the two cannot drift apart.

Properties:
- every command line of the README's "Tools" block names a real subcommand, and every option it shows exists in
  that subcommand's `--help`; for every `lstmc` subcommand, every option of its `--help` appears on its README
  line (lstmc-opt's help is xDSL's long list: there only the first direction is checked);
- every `lstmc` subcommand has a README line;
- the "Python API" example runs as written (in a scratch directory holding the example model);
- the "Layout" section names every lit_tests directory and the "Benchmarks" section every benchmark script.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def group(pattern: str, text: str, flags: int = 0) -> str:
    """Group 1 of the first match of `pattern` in `text`, which must match."""
    match = re.search(pattern, text, flags)
    assert match, f"no match for {pattern!r}"
    return match.group(1)


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no section '{title}'"
    return match.group(1)


def tool_lines() -> list[list[str]]:
    """The command lines of the Tools block (backslash continuations joined, comments dropped), as words."""
    block = group(r"```sh\n(.*?)```", section("Tools"), re.S)
    lines = block.replace("\\\n", " ").splitlines()
    return [line.split("#", 1)[0].split() for line in lines if line.strip()]


def help_options(argv: list[str]) -> list[set[str]]:
    """The options of a `--help`, as sets of aliases (e.g. {"-o", "--output"}), without -h/--help."""
    text = subprocess.run(argv + ["--help"], capture_output=True, text=True, check=True).stdout
    options = []
    for line in text.splitlines():
        if not re.match(r"^\s{2,}-", line):
            continue
        names = re.split(r"\s{2,}", line.strip())[0]  # "-o OUTPUT, --output OUTPUT"
        aliases = set(re.findall(r"(?:^|, )(--?[A-Za-z][\w-]*)", names))
        if aliases and not aliases & {"-h", "--help"}:
            options.append(aliases)
    return options


def subcommands() -> list[str]:
    text = subprocess.run([str(BIN / "lstmc"), "--help"], capture_output=True, text=True, check=True).stdout
    return group(r"\{([a-z,]+)\}", text).split(",")


LINES = tool_lines()


def test_every_lstmc_subcommand_has_a_readme_line():
    documented = [words[1] for words in LINES if words[0] == "lstmc"]
    assert sorted(documented) == sorted(subcommands())


@pytest.mark.parametrize("words", LINES, ids=lambda w: " ".join(w[:2]))
def test_readme_line_matches_help(words):
    tool = words[0]
    assert tool in ("lstmc", "lstmc-opt"), words
    argv = [str(BIN / tool)] + ([words[1]] if tool == "lstmc" else [])
    known = help_options(argv)
    all_known = set().union(*known)
    shown = set(OPTION.findall(" ".join(words[2 if tool == "lstmc" else 1 :])))
    assert shown, words
    assert not shown - all_known, f"{' '.join(argv[-1:])}: the README shows options --help does not have"
    if tool == "lstmc":
        missing = [sorted(aliases)[-1] for aliases in known if not aliases & shown]
        assert not missing, f"lstmc {words[1]}: --help has options the README line does not show: {missing}"


def test_python_api_example_runs(tmp_path, monkeypatch):
    code = group(r"```python\n(.*?)```", section("Python API"), re.S)
    example = tmp_path / "examples" / "tiny_lstm"
    example.mkdir(parents=True)
    for name in ("model.onnx", "inputs.npz"):
        shutil.copy(ROOT / "examples" / "tiny_lstm" / name, example / name)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Python API)", "exec"), {})
    assert (tmp_path / "build" / "tiny_lstm" / "README.md").is_file()


def test_layout_names_every_lit_test_directory():
    layout = section("Layout")
    lit = group(r"^lit_tests/(.*?)(?=^\S)", layout, re.S | re.M)
    for d in sorted(p for p in (ROOT / "lit_tests").iterdir() if p.is_dir()):
        if d.name in ("Output", "Inputs"):
            continue
        assert f"{d.name}/" in lit, d.name
        for sub in sorted(p.name for p in d.iterdir() if p.is_dir() and p.name not in ("Output", "Inputs")):
            assert sub in lit, f"{d.name}/{sub}"


def test_benchmarks_section_names_every_script():
    text = section("Benchmarks")
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        assert f"`{script.name}`" in text, script.name
