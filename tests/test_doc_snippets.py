"""Every Python snippet of README.md and docs/ marked ``<!-- run -->`` runs against the simulator.

How a snippet runs depends on what it holds (docs/contributing-docs.md): a DAG goes into the
``dags/`` folder of a scratch project, ``test_*`` functions into its ``tests/`` (run with pytest
in a subprocess, in a fresh ``AIRFLOW_HOME``), anything else runs as a script with the default
connections pointing at a loopback simulator. Each snippet runs on its own: one scratch project
(every DAG snippet, this one test snippet) and one pytest process per test snippet, so a
snippet that leans on names or fixtures of another block fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID, LiveSimulator

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- run -->"
_MARKED = re.compile(r"^([ \t]*)<!-- run -->\n\1```python\n(.*?)\n\1```[ \t]*$", re.M | re.S)
_QUOTED = re.compile(r"^([ \t]*)````.*?^\1````", re.M | re.S)  # examples of the marker itself
_DAG = re.compile(r"^@dag\b.*?^def (\w+)\(", re.M | re.S)
_TEST = re.compile(r"^(?:async )?def test_", re.M)

PYPROJECT = """\
[tool.pytest.ini_options]
pythonpath = ["dags"]
clinical_rules_airflow_home = "fresh"
clinical_rules_dags_folder = "dags"
asyncio_default_fixture_loop_scope = "function"
"""
CONFTEST = 'pytest_plugins = ["clinical_rules_provider.testing.pytest_plugin"]\n'


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def dag_name(self) -> str | None:
        found = _DAG.search(self.code)
        return found.group(1) if found else None

    @property
    def kind(self) -> str:
        if self.dag_name:
            return "dag"
        return "pytest" if _TEST.search(self.code) else "script"


def doc_snippets(root: Path = ROOT) -> list[Snippet]:
    """The marked snippets of README.md and docs/**/*.md, in file order."""
    snippets = []
    for path in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        text = _QUOTED.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text(encoding="utf-8"))
        for found in _MARKED.finditer(text):
            line = text.count("\n", 0, found.start()) + 1
            code = textwrap.dedent(found.group(2)) if found.group(1) else found.group(2)
            snippets.append(Snippet(path, line, code + "\n"))
    return snippets


def write_project(dest: Path, snippets: list[Snippet]) -> Path:
    """The testing guide's project layout with the given DAG and pytest snippets in it."""
    (dest / "dags").mkdir(parents=True)
    (dest / "tests").mkdir()
    (dest / "pyproject.toml").write_text(PYPROJECT)
    (dest / "conftest.py").write_text(CONFTEST)
    for snippet in snippets:
        name = re.sub(r"\W", "_", f"{snippet.path.stem}_{snippet.line}")
        if snippet.kind == "dag":
            (dest / "dags" / f"{snippet.dag_name}.py").write_text(snippet.code)
        elif snippet.kind == "pytest":
            (dest / "tests" / f"test_{name}.py").write_text(snippet.code)
    return dest


def clean_env() -> dict[str, str]:
    """This process's environment without its Airflow settings (the project gets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


SNIPPETS = doc_snippets()
PYTEST_SNIPPETS = [s for s in SNIPPETS if s.kind == "pytest"]


def write_snippet_project(dest: Path, snippet: Snippet, snippets: list[Snippet]) -> Path:
    """A project for one test snippet alone: every DAG snippet (the files it may import) and it."""
    return write_project(dest, [*(s for s in snippets if s.kind == "dag"), snippet])


def snippet_test_count(snippet: Snippet) -> int:
    """How many tests a pytest snippet defines."""
    return len(_TEST.findall(snippet.code))


def run_project_tests(python: Path, project: Path) -> subprocess.CompletedProcess[str]:
    """Run a written project's ``tests`` with ``python`` in a clean environment; must pass."""
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_readme_dag_the_guides_tests_and_scripts_are_marked_to_run() -> None:
    where = {(s.path.name, s.kind) for s in SNIPPETS}
    assert ("README.md", "dag") in where
    assert ("testing-with-the-simulator.md", "pytest") in where
    assert ("getting-started.md", "script") in where
    assert sum(s.kind == "pytest" for s in SNIPPETS) >= 3


def test_every_marked_dag_is_run_by_a_marked_test() -> None:
    tests = "".join(s.code for s in SNIPPETS if s.kind == "pytest")
    for snippet in SNIPPETS:
        if snippet.kind == "dag":
            assert f"from {snippet.dag_name} import" in tests, snippet.where


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.kind == "script"], ids=lambda s: s.where)
def test_script_snippet_runs_against_the_simulator(
    snippet: Snippet, simulator: LiveSimulator, tmp_path: Path
) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code)
    env = clean_env() | {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW_CONN_CLINICAL_ONE_DEFAULT": json.dumps(
            {
                "conn_type": "clinical_one",
                "host": simulator.url,
                "login": "demo-user",
                "password": "demo-password",
                "extra": {"study_id": EXAMPLE_STUDY_ID, "study_mode": "test"},
            }
        ),
        "AIRFLOW_CONN_VEEVA_VAULT_DEFAULT": json.dumps(
            {
                "conn_type": "veeva_vault",
                "host": simulator.url,
                "login": "integration@sim.example",
                "password": "sim-password",
            }
        ),
    }
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{snippet.where}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "False" not in done.stdout, f"{snippet.where}: {done.stdout[-2000:]}"  # test_connection() results


@pytest.mark.e2e
@pytest.mark.parametrize("snippet", PYTEST_SNIPPETS, ids=lambda s: s.where)
def test_each_pytest_snippet_passes_alone_in_a_fresh_project(snippet: Snippet, tmp_path: Path) -> None:
    project = write_snippet_project(tmp_path / "project", snippet, SNIPPETS)
    done = run_project_tests(Path(sys.executable), project)
    counts = re.search(r"(\d+) passed", done.stdout)
    assert counts and int(counts.group(1)) == snippet_test_count(snippet), done.stdout[-2000:]
