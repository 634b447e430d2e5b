"""Provider metadata and connection-form definitions (one source for the UI in every Airflow 3.x)."""

from __future__ import annotations

from typing import Any

from clinical_rules_provider import __version__

# The hooks' ``default_conn_name``; task classes default to these without importing the hooks.
CLINICAL_ONE_DEFAULT_CONN_ID = "clinical_one_default"
VAULT_DEFAULT_CONN_ID = "veeva_vault_default"

_STRING = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}
_NUMBER_60 = {"type": ["number", "null"], "default": 60}
_BOOLEAN_TRUE = {"type": ["boolean", "null"], "default": True}


def _field(label: str, schema: dict[str, Any] = _STRING, description: str | None = None) -> dict[str, Any]:
    """One ``conn-fields`` entry: a label, a JSON schema and, when given, a description."""
    return {"label": label, "schema": schema} | ({} if description is None else {"description": description})


CLINICAL_ONE_FIELDS: dict[str, dict[str, Any]] = {
    "token_url": _field(
        "OAuth2 token URL", description="IAMS token endpoint; leave empty for Basic or static bearer auth"
    ),
    "client_id": _field("OAuth2 client ID"),
    "client_secret": _field("OAuth2 client secret", _SECRET),
    "scope": _field("OAuth2 scope", description="e.g. <tenant>.ec-designer-svc.all"),
    "token": _field("Static bearer token", _SECRET, "Used instead of OAuth2/Basic when set"),
    "study_id": _field("Default study ID"),
    "study_mode": _field(
        "Default study mode",
        {
            "type": ["string", "null"],
            "enum": [None, "design", "test", "training", "production", "active"],
            "values_display": {"null": "(set on each task)"},
        },
    ),
    "service_timezone": _field(
        "Service timezone", {"type": ["string", "null"], "default": "UTC"}, "Zone of jobStartDate values"
    ),
    "timeout": _field("Request timeout (s)", _NUMBER_60),
    "verify_ssl": _field("Verify TLS certificates", _BOOLEAN_TRUE),
    "rules_url_template": _field(
        "Rules page URL template (task link)",
        description="e.g. {base_url}/<your UI path>/{study_id}/{study_mode}; empty: no link",
    ),
}

VAULT_FIELDS: dict[str, dict[str, Any]] = {
    "api_version": _field("API version", {"type": ["string", "null"], "default": "v26.1"}),
    "client_id": _field("Client ID (X-VaultAPI-ClientID)"),
    "session_id": _field("Session ID (skips login)", _SECRET),
    "timeout": _field("Request timeout (s)", _NUMBER_60),
    "verify_ssl": _field("Verify TLS certificates", _BOOLEAN_TRUE),
    "job_url_template": _field(
        "Job page URL template (task link)",
        description="e.g. {base_url}/<your UI path>/{job_id}; empty: no link",
    ),
}

CLINICAL_ONE_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {
        "host": "Clinical One base URL",
        "login": "Username (Basic or password grant)",
        "password": "Password",
    },
    "placeholders": {
        "host": "https://<tenant>.clinicalone.oraclecloud.com",
        "extra": '{"study_id": "...", "study_mode": "test"}',
    },
}

VAULT_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {"host": "Vault DNS", "login": "Username", "password": "Password"},
    "placeholders": {"host": "myvault.veevavault.com"},
}


def _by_integration(clinical_one: list[str], vault: list[str]) -> list[dict[str, Any]]:
    """A provider-info module list: the Clinical One modules, then the Vault ones."""
    return [
        {"integration-name": "Oracle Clinical One", "python-modules": clinical_one},
        {"integration-name": "Veeva Vault", "python-modules": vault},
    ]


PROVIDER_INFO: dict[str, Any] = {
    "package-name": "airflow-provider-clinical-rules",
    "name": "Clinical Rules (Oracle Clinical One and Veeva Vault)",
    "description": "Run Oracle Clinical One rule operations and Veeva Vault job operations from Airflow.",
    "versions": [__version__],
    "integrations": [
        {
            "integration-name": "Oracle Clinical One",
            "external-doc-url": "https://docs.oracle.com/en/industries/life-sciences/clinical-one/",
        },
        {"integration-name": "Veeva Vault", "external-doc-url": "https://developer.veevavault.com/api/"},
    ],
    "operators": _by_integration(
        [
            "clinical_rules_provider.operators.publish_run",
            "clinical_rules_provider.operators.filter_rules",
            "clinical_rules_provider.operators.cancel_rule_jobs",
        ],
        ["clinical_rules_provider.operators.cancel_vault_jobs"],
    ),
    "sensors": _by_integration(
        ["clinical_rules_provider.sensors.rule_job"], ["clinical_rules_provider.sensors.vault_job"]
    ),
    "triggers": _by_integration(
        ["clinical_rules_provider.triggers.rule_job", "clinical_rules_provider.triggers.rule_job_event"],
        ["clinical_rules_provider.triggers.vault_job"],
    ),
    # `clinical-one://<host>/<study_id>/<study_mode>/rules`: announced by the publish operator.
    "asset-uris": [
        {
            "schemes": ["clinical-one"],
            "handler": "clinical_rules_provider.assets.normalize_uri",
            "factory": "clinical_rules_provider.assets.create_asset",
            # Used by apache-airflow-providers-openlineage when installed (the openlineage extra).
            "to_openlineage_converter": "clinical_rules_provider.lineage.convert_asset_to_openlineage",
        }
    ],
    "extra-links": [
        "clinical_rules_provider.links.ClinicalOneRulesLink",
        "clinical_rules_provider.links.VaultJobLink",
    ],
    "hooks": _by_integration(
        ["clinical_rules_provider.hooks.clinical_one"], ["clinical_rules_provider.hooks.vault"]
    ),
    "connection-types": [
        {
            "connection-type": "clinical_one",
            "hook-class-name": "clinical_rules_provider.hooks.clinical_one.ClinicalOneHook",
            "hook-name": "Oracle Clinical One",
            "conn-fields": CLINICAL_ONE_FIELDS,
            "ui-field-behaviour": CLINICAL_ONE_BEHAVIOUR,
        },
        {
            "connection-type": "veeva_vault",
            "hook-class-name": "clinical_rules_provider.hooks.vault.VaultHook",
            "hook-name": "Veeva Vault",
            "conn-fields": VAULT_FIELDS,
            "ui-field-behaviour": VAULT_BEHAVIOUR,
        },
    ],
}


def python_behaviour(behaviour: dict[str, Any]) -> dict[str, Any]:
    """The ``get_ui_field_behaviour()`` spelling (snake_case keys) of a provider-info behaviour."""
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def form_widgets(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``get_connection_form_widgets()`` for Airflow 3.0/3.1 (3.2+ reads ``conn-fields``), from
    the same field table; ``{}`` without the FAB/wtforms packages (not in plain Airflow 3)."""
    try:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, StringField
    except ImportError:
        return {}
    widgets: dict[str, Any] = {}
    for name, spec in fields.items():
        label = lazy_gettext(spec["label"])
        if "boolean" in spec["schema"]["type"]:
            widgets[name] = BooleanField(label, default=spec["schema"].get("default", False))
        elif spec["schema"].get("format") == "password":
            widgets[name] = StringField(label, widget=BS3PasswordFieldWidget())
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget())
    return widgets
