"""Provider metadata: the entry point, Airflow's JSON schema, and form fields in sync with hooks."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema
import pytest

import clinical_rules_provider
from clinical_rules_provider._provider_info import CLINICAL_ONE_FIELDS, VAULT_FIELDS


def test_entry_point_loads_get_provider_info() -> None:
    (entry,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("clinical_rules_provider")
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-clinical-rules"
    assert info["versions"] == [clinical_rules_provider.__version__]


def test_provider_info_matches_airflows_schema() -> None:
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(clinical_rules_provider.get_provider_info(), schema)


def test_every_listed_module_and_class_imports() -> None:
    info = clinical_rules_provider.get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for conn in info["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == conn["connection-type"]


def test_every_module_list_names_clinical_one_then_vault() -> None:
    info = clinical_rules_provider.get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        assert [e["integration-name"] for e in info[kind]] == ["Oracle Clinical One", "Veeva Vault"], kind
        assert all(e["python-modules"] for e in info[kind]), kind


def test_the_link_template_fields_describe_their_placeholders() -> None:
    assert "{study_id}" in CLINICAL_ONE_FIELDS["rules_url_template"]["description"]
    assert "{job_id}" in VAULT_FIELDS["job_url_template"]["description"]
    assert "description" not in VAULT_FIELDS["session_id"]


@pytest.mark.parametrize(
    ("fields", "secrets"), [(CLINICAL_ONE_FIELDS, {"client_secret", "token"}), (VAULT_FIELDS, {"session_id"})]
)
def test_secret_fields_are_password_fields(fields: dict[str, dict[str, object]], secrets: set[str]) -> None:
    masked = {name for name, spec in fields.items() if spec["schema"].get("format") == "password"}  # type: ignore[union-attr]
    assert masked == secrets


def test_hook_ui_behaviour_matches_the_provider_info() -> None:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.hooks.vault import VaultHook

    info = {c["connection-type"]: c for c in clinical_rules_provider.get_provider_info()["connection-types"]}
    for hook in (ClinicalOneHook, VaultHook):
        behaviour = info[hook.conn_type]["ui-field-behaviour"]
        assert hook.get_ui_field_behaviour() == {k.replace("-", "_"): v for k, v in behaviour.items()}


def test_importing_the_package_does_not_import_airflow_or_httpx_clients(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, clinical_rules_provider.models, clinical_rules_provider.clients.clinical_one; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("uri", "conn_type"),
    [
        ("clinical-one://user:secret-pw@tenant.example.com?study_id=S&study_mode=test", "clinical_one"),
        ("veeva-vault://user:secret-pw@myvault.veevavault.com", "veeva_vault"),
    ],
)
def test_a_uri_with_a_dash_loads_as_the_registered_connection_type(uri: str, conn_type: str) -> None:
    # What docs/troubleshooting.md promises about Airflow's "shall not contain '_'" warning:
    # the dash form a URI carries reads back as the type the provider registers.
    from airflow.models.connection import Connection

    registered = {
        c["connection-type"] for c in clinical_rules_provider.get_provider_info()["connection-types"]
    }
    conn = Connection(conn_id="c", uri=uri)
    assert conn.conn_type == conn_type and conn_type in registered
    assert Connection(conn_id="c", uri=conn.get_uri()).conn_type == conn_type
