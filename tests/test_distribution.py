"""The built wheel installs into a fresh venv and Airflow discovers the provider through it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import clinical_rules_provider

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], **kwargs: object) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return str(done.stdout)


def test_wheel_installs_and_airflow_lists_the_provider_and_both_connection_types(tmp_path: Path) -> None:
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT)])
    (wheel,) = (tmp_path / "dist").glob("airflow_provider_clinical_rules-*.whl")
    assert clinical_rules_provider.__version__ in wheel.name
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)])
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
