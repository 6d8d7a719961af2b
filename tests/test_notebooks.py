"""The notebooks run: their code cells are executed in order, in one namespace, in a
temporary directory (no Jupyter server). Each notebook checks its own results. The stored
copies are tutorials with their outputs: every code cell was executed, in order, without an
error, and the figures are stored inline (checked without running anything)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
MAX_BYTES = 1_500_000  # stored notebooks stay small enough to review and clone


def _code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def _python(source: str) -> str:
    """The cell's source without IPython line magics (`%matplotlib inline`), which only
    Jupyter understands; blank lines keep the line numbers of tracebacks."""
    return "\n".join("" if line.lstrip().startswith("%") else line
                     for line in source.split("\n"))


def test_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_jax.ipynb",
                                           "03_large_data.ipynb"]


def test_python_drops_only_magics():
    assert _python("%matplotlib inline\nx = 1 % 2\n  %time y") == "\nx = 1 % 2\n"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_stored(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"
    cells = _code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name}: unexecuted code cells {counts}"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: not run top to bottom"
    outputs = [o for c in cells for o in c["outputs"]]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, f"{path.name}: stored error {errors[0].get('ename')}"
    tracebacks = [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"
                  and "Traceback" in "".join(o["text"])]
    assert not tracebacks, f"{path.name}: stored traceback on stderr"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no inline figure (image/png output)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    pytest.importorskip("yaml")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for k, cell in enumerate(_code_cells(path)):
        source = _python("".join(cell["source"]))
        exec(compile(source, f"{path.name}[code cell {k}]", "exec"), namespace)  # noqa: S102
    import matplotlib.pyplot as plt

    plt.close("all")
