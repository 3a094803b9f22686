"""The layout's promises, checked on the sources: no import circle in `bench` (function-level
imports included), `vae_core` never imports `bench`, and no claim is special-cased by its id."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, package: str) -> set[str]:
    """The modules of `package` that `path` imports anywhere, with the packages an import of a
    submodule runs first (importing a.b.c runs a and a.b), except the module's own parent
    packages, which Python has initialised before it (a sibling import is no circle; naming the
    parent package itself is)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}  # `from bench import perf`
    modules = {module_name(p) for p in (ROOT / package).rglob("*.py")}
    own = module_name(path).split(".")
    parents = {".".join(own[:i]) for i in range(1, len(own))}
    out = set()
    for name in names:
        parts = name.split(".")
        out |= ({".".join(parts[:i]) for i in range(1, len(parts))} - parents) | {name}
    return out & modules


def import_graph(package: str) -> dict[str, set[str]]:
    return {module_name(p): imported(p, package) - {module_name(p)} for p in (ROOT / package).rglob("*.py")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = 2, path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_circle_and_passes_a_tree():
    assert imported(ROOT / "bench" / "reports" / "claims.py", "bench") >= {"bench.claims", "bench.reports.html"}
    assert "bench.reports" not in imported(ROOT / "bench" / "reports" / "claims.py", "bench")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_bench_has_no_import_circle():
    graph = import_graph("bench")
    assert "bench.claims" in graph["bench.suites"] and "bench.work" in graph["bench.executors"]  # the graph is real
    assert find_cycle(graph) is None


def test_vae_core_never_imports_bench():
    for path in (ROOT / "vae_core").rglob("*.py"):
        assert not imported(path, "bench"), path


HEAVY = ("torch", "numpy", "pandas", "sklearn", "optuna", "matplotlib", "seaborn")

HELP_IMPORTS = """
import runpy, sys
sys.argv = ["bench", *sys.argv[1:]]
try:
    runpy.run_module("bench", run_name="__main__")
except SystemExit:
    pass
print(" ".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("page", [["--help"], ["list", "--help"], ["report", "--help"], ["sample", "--help"]])
def test_help_imports_nothing_heavy(page):
    """`python -m bench --help` answers at once (issue 14): parsing imports neither torch nor
    pandas nor Optuna. Checked on the modules loaded, not on a time, which a busy machine skews;
    the planted `run --help` (which lists the data sets, from vae_core.data) shows the check can fail."""
    def heavy_loaded(args: list[str]) -> list[str]:
        out = subprocess.run([sys.executable, "-c", HELP_IMPORTS.format(heavy=HEAVY), *args], capture_output=True,
                             text=True, check=True, cwd=ROOT).stderr
        return out.split()

    assert heavy_loaded(page) == []
    if page == ["--help"]:
        assert "torch" in heavy_loaded(["run", "--help"])


def test_no_claim_is_special_cased_by_its_id():
    for path in (ROOT / "bench").rglob("*.py"):
        text = path.read_text()
        assert 'id == "C' not in text and "claim_id ==" not in text, path


def test_the_measured_tables_in_the_docs_are_the_generated_ones(pytestconfig):
    """README.md and docs/ hold no hand-typed table of measured numbers that has drifted from
    the stored snapshots: regenerating them changes nothing. The robustness table counts the
    suite's tests: from this session's collection where it collected every test file whole
    (not under --lf, which collects only failed tests), else by collecting again."""
    import importlib.util

    from conftest import COLLECTED

    spec = importlib.util.spec_from_file_location("make_tables", ROOT / "docs" / "make_tables.py")
    make_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_tables)
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")}
    if {i.split("::")[0] for i in COLLECTED} == files and not pytestconfig.getoption("lf", False):
        make_tables.COLLECTED = COLLECTED
    assert make_tables.render(check=True) == []
