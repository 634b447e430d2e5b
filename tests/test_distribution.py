"""The built wheel installs into a fresh venv, Airflow discovers the provider through it, and the
testing guide's example project passes there in a fresh ``AIRFLOW_HOME``."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import clinical_rules_provider
from tests.test_doc_snippets import doc_snippets, run_project_tests, snippet_test_count, write_snippet_project

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], **kwargs: object) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)])
    (built,) = dist.glob("airflow_provider_clinical_rules-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh venv with the wheel and its ``testing`` extra (pytest and pytest-asyncio
    included: the guide's tests need nothing else)."""
    path = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(path)])
    _run([str(path / "bin" / "pip"), "install", "-q", f"{wheel}[testing]"])
    return path


def test_wheel_installs_and_airflow_lists_the_provider_and_both_connection_types(
    wheel: Path, venv: Path, tmp_path: Path
) -> None:
    assert clinical_rules_provider.__version__ in wheel.name
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    airflow = str(venv / "bin" / "airflow")
    listed = _run([airflow, "providers", "list"], env=env)
    line = next(line for line in listed.splitlines() if "airflow-provider-clinical-rules" in line)
    assert clinical_rules_provider.__version__ in line
    hooks = _run([airflow, "providers", "hooks"], env=env)
    assert "clinical_rules_provider.hooks.clinical_one.ClinicalOneHook" in hooks
    assert "clinical_rules_provider.hooks.vault.VaultHook" in hooks
    types = {line.split("|")[0].strip() for line in hooks.splitlines() if "|" in line}
    assert {"clinical_one", "veeva_vault"} <= types
    widgets = _run([airflow, "providers", "widgets"], env=env)
    assert "extra__clinical_one__client_secret" in widgets
    assert "extra__veeva_vault__session_id" in widgets


def test_wheel_registers_no_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(name).decode()
    assert "[apache_airflow_provider]" in entry_points
    assert "pytest11" not in entry_points


def test_each_testing_guide_snippet_passes_alone_in_the_fresh_venv_and_airflow_home(
    venv: Path, tmp_path: Path
) -> None:
    snippets = doc_snippets()
    tests = [s for s in snippets if s.kind == "pytest"]
    assert tests
    for n, snippet in enumerate(tests):
        project = write_snippet_project(tmp_path / f"project{n}", snippet, snippets)
        done = run_project_tests(venv / "bin" / "python", project)
        assert f"{snippet_test_count(snippet)} passed" in done.stdout, (snippet.where, done.stdout[-2000:])
