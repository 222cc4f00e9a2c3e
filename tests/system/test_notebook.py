"""The demo notebook (demo/convergence.ipynb) runs top to bottom and ends converged.

It runs in a real Jupyter kernel on this interpreter, in the short setting
(``ROAMSYNC_NOTEBOOK_SHORT=1``), through ``demo/run_notebook.py``'s
:func:`execute`, the same code ``make notebook`` uses.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

DEMO = Path(__file__).resolve().parents[2] / "demo"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_notebook", DEMO / "run_notebook.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_notebook_runs_and_converges(tmp_path: Path) -> None:
    nb = _runner().execute(DEMO / "convergence.ipynb", short=True, cwd=tmp_path)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.execution_count for cell in code), "a cell did not run"
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    printed = "".join(
        out.text for out in code[-1].outputs if out.output_type == "stream" and out.name == "stdout"
    )
    assert "final divergence: 0" in printed.splitlines()
    plots = [out for cell in code for out in cell.outputs if "image/png" in out.get("data", {})]
    assert len(plots) == 1
    assert not (tmp_path / "divergence.png").exists()  # saved only in the full setting
