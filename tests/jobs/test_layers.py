"""Imports go downward only: the library layers never import a job, the Recommender (eccr.pipeline) or the CLI;
the jobs sit above them and the CLI above the jobs."""
import ast
import subprocess
import sys
from pathlib import Path

import eccr

ROOT = Path(eccr.__file__).parent
LIBRARY = ("config.py", "run.py", "hub.py", "coherence.py", "recommendation.py",
           "data", "represent", "rank", "quantize", "llm", "evaluate")
ABOVE = ("eccr.jobs", "eccr.pipeline", "eccr.serve", "eccr.cli")


def _library_files() -> list[Path]:
    files = []
    for name in LIBRARY:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_library_code_names_no_job_pipeline_or_cli_module():
    """Every import in a library file, function-level ones included."""
    wrong = {f"{_module(p)} imports {m}" for p in _library_files() for m in _imported(p)
             if any(m == a or m.startswith(a + ".") for a in ABOVE)}
    assert not wrong, sorted(wrong)


def test_importing_every_library_module_loads_no_job_module():
    modules = [_module(p) for p in _library_files()]
    code = (f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.startswith({ABOVE!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_loads_no_job_and_no_torch_until_a_command_runs():
    """`eccr --help` and `eccr train --help` (flags from RunConfig) build the whole parser without torch."""
    code = ("import sys, eccr.cli; eccr.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'faiss', 'transformers') "
            "or m.startswith(('eccr.jobs', 'eccr.pipeline'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
