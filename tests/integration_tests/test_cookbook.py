"""Every cookbook notebook runs offline, top to bottom, as part of the suite."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"
NOTEBOOKS = sorted(COOKBOOK.glob("*.ipynb"))


def test_cookbook_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {COOKBOOK}"


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
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
