"""Execute demo/convergence.ipynb in place, in the full setting (``make notebook``).

The notebook runs in a Jupyter kernel on this interpreter (the project's
virtualenv, where roamsync is installed), whatever kernels the machine knows:
the kernel spec is written to a temporary folder and only that folder is
searched. The executed notebook, outputs included, is written back, and the
notebook itself saves its plot as demo/divergence.png.

``tests/system/test_notebook.py`` uses :func:`execute` with ``short=True``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import nbformat
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "convergence.ipynb"
KERNEL = "python3"


def execute(
    path: Path = NOTEBOOK, *, short: bool, cwd: Path = HERE, timeout: int = 300
) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel started in ``cwd``.

    Raises ``nbclient.exceptions.CellExecutionError`` if a cell fails.
    """
    nb = cast(nbformat.NotebookNode, nbformat.read(path, as_version=4))  # read() is unannotated
    env = {k: v for k, v in os.environ.items() if k != "ROAMSYNC_NOTEBOOK_SHORT"}
    if short:
        env["ROAMSYNC_NOTEBOOK_SHORT"] = "1"
    with tempfile.TemporaryDirectory(prefix="roamsync-kernel-") as prefix:
        kernels = Path(prefix, "kernels")
        # argv: [sys.executable, "-m", "ipykernel_launcher", ...]. Written here directly:
        # ipykernel's install() leaves an empty folder behind in /tmp on every call.
        write_kernel_spec(kernels / KERNEL)
        specs = KernelSpecManager(kernel_dirs=[str(kernels)])
        # Unix sockets in the temporary folder where there are: no TCP ports, no plain-TCP warning.
        ipc = os.name == "posix"
        km = AsyncKernelManager(
            kernel_name=KERNEL,
            kernel_spec_manager=specs,
            transport="ipc" if ipc else "tcp",
            ip=str(Path(prefix, "kernel")) if ipc else "127.0.0.1",
        )
        client = NotebookClient(
            nb,
            km=km,
            kernel_name=KERNEL,
            timeout=timeout,
            record_timing=False,  # no run timestamps in the cell metadata
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute(cleanup_kc=True, env=env)  # shut the kernel down: we made km
    return nb


def main() -> None:
    started = time.monotonic()
    nb = execute(NOTEBOOK, short=False)
    nbformat.write(nb, NOTEBOOK)
    print(f"executed {NOTEBOOK} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(f"plot: {HERE / 'divergence.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
