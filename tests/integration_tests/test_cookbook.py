"""Every cookbook notebook runs offline, top to bottom, as part of the suite.

A notebook's stored outputs are what a reader sees on the package index or on
GitHub without running anything, so they are checked too: no error, nothing on
stderr (warnings, progress bars, log lines of the machine that ran it) and no
path of that machine (``/work/...``, ``/root/...``, ``site-packages``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"
NOTEBOOKS = sorted(COOKBOOK.glob("*.ipynb"))

# Absolute paths of the machine that executed a notebook: POSIX home/system/work
# folders, installed-package folders, Windows drive paths.
MACHINE_PATH = re.compile(
    r"(?<![\w.~-])/(?:work|root|home|tmp|var|opt|usr|srv|mnt|private|Users)/"
    r"|site-packages|dist-packages"
    r"|\b[A-Za-z]:\\\\?(?:Users|Program Files|Windows)\b"
)
# The format of warnings.showwarning: "file.py:21: SomeWarning: message".
WARNING_LINE = re.compile(r":\d+: \w*Warning\b")
# Binary outputs (base64) can contain any of the characters above by chance.
BINARY_MIME = ("image/png", "image/jpeg", "image/gif")


def _text_outputs(output: dict[str, Any]) -> list[str]:
    if output.get("output_type") == "stream":
        return ["".join(output.get("text", ""))]
    if output.get("output_type") == "error":
        return ["\n".join(output.get("traceback", []))]
    return [
        "".join(value) if isinstance(value, list) else str(value)
        for mime, value in output.get("data", {}).items()
        if mime not in BINARY_MIME
    ]


def output_problems(notebook: Any) -> list[str]:
    """What a reader should not see in a notebook's outputs (empty when clean)."""
    problems = []
    code_cells = (c for c in notebook.cells if c.cell_type == "code")
    for number, cell in enumerate(code_cells, start=1):
        where = f"code cell {number} ({cell.source.splitlines()[0][:40] if cell.source else ''!r})"
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error":
                problems.append(f"{where}: error {output.get('ename')}: {output.get('evalue')}")
            if kind == "stream" and output.get("name") == "stderr":
                problems.append(f"{where}: stderr output {''.join(output.get('text', ''))[:200]!r}")
            for text in _text_outputs(output):
                for match in MACHINE_PATH.finditer(text):
                    start = max(0, match.start() - 60)
                    problems.append(f"{where}: machine path {text[start : match.end() + 60]!r}")
                problems.extend(
                    f"{where}: warning {text[m.start() : m.end() + 80]!r}"
                    for m in WARNING_LINE.finditer(text)
                )
    return problems


def test_cookbook_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {COOKBOOK}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_outputs_are_clean(path: Path) -> None:
    """What a reader sees without running the notebook: no error, stderr or machine path."""
    notebook = nbformat.read(path, as_version=4)
    executed = [c for c in notebook.cells if c.cell_type == "code" and c.get("outputs")]
    assert executed, f"{path.name} has no stored outputs: execute it before committing"
    problems = output_problems(notebook)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"output_type": "stream", "name": "stderr", "text": "Loading: 100%"}, "stderr output"),
        (
            {"output_type": "stream", "name": "stdout", "text": "saved to /root/x/index.zip\n"},
            "machine path",
        ),
        (
            {
                "output_type": "stream",
                "name": "stdout",
                "text": "/work/main/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: ",
            },
            "machine path",
        ),
        (
            {
                "output_type": "execute_result",
                "data": {"text/plain": "x.py:3: DeprecationWarning: old"},
                "metadata": {},
                "execution_count": 1,
            },
            "warning",
        ),
        (
            {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []},
            "error ValueError",
        ),
    ],
)
def test_output_check_catches(output: dict[str, Any], problem: str) -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.from_dict(output)]
    notebook.cells.append(cell)
    problems = output_problems(notebook)
    assert problems
    assert problem in problems[0]


def test_output_check_accepts_clean_output() -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [
        nbformat.from_dict(
            {
                "output_type": "stream",
                "name": "stdout",
                "text": "corpus.niche.zip: 25.9 MB; FallbackWarning - vector store failed; a/b/c\n",
            }
        ),
        # base64 of a PNG may contain "/tmp/" by chance: binary outputs are not scanned
        nbformat.from_dict(
            {"output_type": "display_data", "data": {"image/png": "iVBO/tmp/Rw0K"}, "metadata": {}}
        ),
    ]
    notebook.cells.append(cell)
    assert output_problems(notebook) == []


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_offline(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The offline path must be taken: no key, and nothing but loopback is reachable anyway.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("NICHE_NOTEBOOK_TMP", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(COOKBOOK)}},
    )
    client.execute()
    # Fresh outputs must be as clean as the stored ones (same checks).
    problems = output_problems(notebook)
    assert not problems, "\n".join(problems)
