"""The documentation is executed, so its code and its numbers cannot rot.

* ``mkdocs build --strict`` must succeed (no warning: broken links, bad docstrings, missing pages).
* Every ```` ```python ```` block of every page under ``docs/`` runs, in page order, in one namespace per
  page; blocks inside a tab whose label contains "Keras" (``=== "Keras"``) run in a second namespace of
  their own, with ``KERAS_BACKEND=torch``. The working directory is a fresh temporary directory per page
  (files written by one block, e.g. a saved model, are there for the next). ```` ```bash ```` blocks are
  not run (they document the CLI).
* An *output block* is a ```` ```text ```` block directly after a python block (only blank lines between,
  same indentation): it is the expected standard output of that block. The comparison is line by line;
  numbers are compared with a tolerance and all other text exactly (a run of spaces counts as one, as
  numpy pads columns to the widest number):

  - integers (no decimal point) exactly;
  - decimals up to 5 in magnitude (accuracies, bits per character, R², MASE, losses) within 0.02
    absolute;
  - larger decimals (errors in the data's units, e.g. airline passengers) within 5 % relative.

  Short trainings on one CPU thread with fixed seeds are deterministic on one machine; the tolerance
  absorbs the floating-point differences between CPUs (another SIMD width changes the rounding, and
  training amplifies it a little).
* An output block titled as a sample (```` ```text title="Sample ..." ````) shows generated text, which
  any difference in the weights changes character by character: the test checks only that the block
  printed one (pages print the numbers that matter in a compared block).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before any page imports keras

# Keras 3 on the torch backend warns about numpy's copy keyword on every array it converts
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

ABS_TOL, REL_TOL, ABS_LIMIT = 0.02, 0.05, 5.0
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_TAB = re.compile(r'^(?P<indent>[ \t]*)===\+?\s+"(?P<label>[^"]*)"')
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


@dataclass
class Block:
    """One fenced block: its language, info string, code, first line in the page and the tab it sits in."""

    lang: str
    info: str
    code: str
    line: int
    indent: int
    tab: str | None
    output: Block | None = None

    @property
    def keras(self) -> bool:
        return self.tab is not None and "keras" in self.tab.lower()

    @property
    def sample(self) -> bool:
        return re.search(r'title="sample', self.info, re.IGNORECASE) is not None


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown page, each python block linked to the output block after it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    tabs: list[tuple[int, str]] = []  # open tab headers: (indent, label)
    i, last_end = 0, -1
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if line.strip():
            tabs = [(k, lab) for k, lab in tabs if k < indent]
            tab = _TAB.match(line)
            if tab:
                tabs.append((len(tab["indent"]), tab["label"]))
        m = _FENCE.match(line)
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"].strip()
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].strip() == fence and len(lines[j]) - len(lines[j].lstrip()) <= indent), None)
        if end is None:
            raise ValueError(f"line {i + 1}: unclosed fence {fence}")
        body = [ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines[i + 1:end]]
        lang = info.lstrip("{").lstrip(".").split()[0].rstrip("}") if info else ""
        block = Block(lang, info, "\n".join(body) + "\n", i + 1, indent, tabs[-1][1] if tabs else None)
        gap = lines[last_end + 1:i] if blocks else ["x"]
        prev = blocks[-1] if blocks else None
        if (lang == "text" and prev is not None and prev.lang == "python" and prev.indent == indent
                and all(not g.strip() for g in gap)):
            prev.output = block
        blocks.append(block)
        last_end = end
        i = end + 1
    return blocks


def _mismatch(expected: str, actual: str) -> str | None:
    """None when ``actual`` matches ``expected`` (numbers within tolerance, text exact), else why not."""
    exp = [ln.rstrip() for ln in expected.rstrip("\n").splitlines()]
    act = [ln.rstrip() for ln in actual.rstrip("\n").splitlines()]
    if len(exp) != len(act):
        return f"{len(act)} lines printed, {len(exp)} expected"
    for n, (e, a) in enumerate(zip(exp, act), 1):
        if _skeleton(e) != _skeleton(a):
            return f"line {n}: text differs:\n  expected: {e}\n  printed:  {a}"
        for es, as_ in zip(_NUMBER.findall(e), _NUMBER.findall(a)):
            if not _close(es, as_):
                return f"line {n}: {as_} is not within tolerance of {es}:\n  expected: {e}\n  printed:  {a}"
    return None


def _skeleton(line: str) -> str:
    """A line's text without its numbers, runs of spaces as one (numpy pads columns to the widest number)."""
    return " ".join(_NUMBER.sub("#", line).split())


def _close(expected: str, actual: str) -> bool:
    is_int = re.fullmatch(r"[-+]?\d+", expected) is not None
    e, a = float(expected), float(actual)
    if is_int:
        return e == a and re.fullmatch(r"[-+]?\d+", actual) is not None
    if abs(e) <= ABS_LIMIT:
        return abs(a - e) <= ABS_TOL + 1e-12
    return abs(a - e) <= REL_TOL * abs(e)


def run_page(page: Path, workdir: Path, printed_by: dict[int, str] | None = None) -> list[str]:
    """Run every python block of ``page`` in ``workdir``; returns a list of failures (empty: all matched).
    ``printed_by`` (when given) receives what each output block's python block printed, by the output
    block's first line."""
    blocks = [b for b in parse_blocks(page.read_text(encoding="utf-8")) if b.lang == "python"]
    spaces: dict[bool, dict] = {False: {"__name__": "__main__"}, True: {"__name__": "__main__"}}
    failures: list[str] = []
    rel = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page.name
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        for b in blocks:
            out = io.StringIO()
            t0 = time.monotonic()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(b.code, f"{rel}:{b.line}", "exec"), spaces[b.keras])  # noqa: S102
            except Exception as e:  # report the page and line, then stop: later blocks depend on this one
                failures.append(f"{rel}:{b.line} ({b.tab or 'page'}) raised {type(e).__name__}: {e}")
                break
            took = time.monotonic() - t0
            sys.stderr.write(f"{rel}:{b.line} ({b.tab or 'page'}) {took:.1f} s\n")
            if b.output is None:
                continue
            printed = out.getvalue()
            if printed_by is not None:
                printed_by[b.output.line] = printed
            if b.output.sample:
                if not printed.strip():
                    failures.append(f"{rel}:{b.output.line}: the block printed no sample")
                continue
            why = _mismatch(b.output.code, printed)
            if why:
                failures.append(f"{rel}:{b.output.line} (output of the block at line {b.line}): {why}\n"
                                f"--- printed ---\n{printed}")
    finally:
        os.chdir(cwd)
    return failures


def _pages_with_code() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if any(b.lang == "python" for b in parse_blocks(p.read_text("utf-8"))))


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_code_runs_and_prints_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    failures = run_page(page, tmp_path)
    assert not failures, "\n\n".join(failures)


def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for page in ("index.html", "tutorials/char-rnn/index.html", "reference/estimators/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_every_tutorial_shows_rnnkit_and_keras_with_their_output() -> None:
    """Each classic example shows rnnkit's code beside Keras's, both with the output they print."""
    for page in sorted((DOCS / "tutorials").glob("*.md")):
        if page.name == "index.md":
            continue
        blocks = [b for b in parse_blocks(page.read_text("utf-8")) if b.lang == "python"]
        assert any(b.output and not b.keras for b in blocks), f"{page.name}: no rnnkit output block"
        assert any(b.output and b.keras for b in blocks), f"{page.name}: no Keras output block"


# ------------------------------------------------------------------ the harness itself

_EXAMPLE = '''\
Intro.

```python
print("accuracy 0.912")
```

```text
accuracy 0.912
```

=== "rnnkit"

    ```python
    x = 1
    ```

=== "Keras"

    ```python
    print(3, "steps")
    ```

    ```text
    3 steps
    ```

```text
not an output: no python block right before
```
'''


def test_parser_links_outputs_and_tabs() -> None:
    blocks = parse_blocks(_EXAMPLE)
    assert [(b.lang, b.tab) for b in blocks] == [("python", None), ("text", None), ("python", "rnnkit"),
                                                  ("python", "Keras"), ("text", "Keras"), ("text", None)]
    assert blocks[0].output is blocks[1] and blocks[2].output is None and blocks[3].output is blocks[4]
    assert blocks[3].keras and not blocks[2].keras and blocks[3].code == 'print(3, "steps")\n'


@pytest.mark.parametrize("expected, printed, ok", [
    ("acc 0.912", "acc 0.930", True),        # within 0.02
    ("acc 0.912", "acc 0.940", False),
    ("bpc 2.51", "bpc 2.52", True),
    ("rmse 25.0", "rmse 26.2", True),        # within 5 %
    ("rmse 25.0", "rmse 26.5", False),
    ("600 steps", "601 steps", False),       # integers are exact
    ("600 steps", "600.0 steps", False),
    ("below_majority False", "below_majority True", False),
    ("a\nb", "a", False),
    ("[0.34  0.328]", "[0.341 0.328]", True),  # numpy's column padding
    ("lstm 0.9", "gru 0.9", False),
])
def test_output_comparison_tolerances(expected: str, printed: str, ok: bool) -> None:
    assert (_mismatch(expected, printed) is None) == ok


def test_a_wrong_number_on_a_page_fails(tmp_path: Path) -> None:
    page = tmp_path / "probe.md"
    page.write_text("```python\nprint(round(2 / 3, 3))\n```\n\n```text\n0.65\n```\n", encoding="utf-8")
    assert run_page(page, tmp_path) == []
    page.write_text("```python\nprint(round(2 / 3, 3))\n```\n\n```text\n0.6\n```\n", encoding="utf-8")
    assert "not within tolerance" in run_page(page, tmp_path)[0]
    page.write_text("```python\nraise ValueError('boom')\n```\n", encoding="utf-8")
    assert "raised ValueError: boom" in run_page(page, tmp_path)[0]


def test_write_outputs_records_what_the_code_printed(tmp_path: Path) -> None:
    page = tmp_path / "probe.md"
    page.write_text('=== "Keras"\n\n    ```python\n    print("a\\nb 1.5")\n    ```\n\n'
                    '    ```text\n    old\n    ```\n\nend\n', encoding="utf-8")
    printed: dict[int, str] = {}
    assert run_page(page, tmp_path, printed)  # "old" is not what it prints
    write_outputs(page, printed)
    assert page.read_text(encoding="utf-8").endswith("    ```text\n    a\n    b 1.5\n    ```\n\nend\n")
    assert run_page(page, tmp_path) == []


def write_outputs(page: Path, printed_by: dict[int, str]) -> None:
    """Replace each output block of ``page`` by what its python block printed (a writer's tool: read the
    page's prose and tables again afterwards, they quote the same numbers)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    for b in sorted((b for b in parse_blocks("\n".join(lines)) if b.line in printed_by), key=lambda b: -b.line):
        old = len(b.code.rstrip("\n").splitlines()) if b.code.strip() else 0
        new = [(" " * b.indent + ln).rstrip() for ln in printed_by[b.line].rstrip("\n").splitlines()]
        lines[b.line:b.line + old] = new
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python tests/test_docs.py docs/PAGE.md ... [--write]: run pages as the tests do
    import tempfile

    import torch

    torch.set_num_threads(1)  # as tests/conftest.py
    for arg in [a for a in sys.argv[1:] if a != "--write"]:
        torch.manual_seed(0)
        page, printed = Path(arg).resolve(), {}
        problems = run_page(page, Path(tempfile.mkdtemp()), printed)
        print(f"{arg}: " + ("matches" if not problems else "\n\n".join(problems)))
        if "--write" in sys.argv and not any(" raised " in p for p in problems):
            write_outputs(page, printed)
