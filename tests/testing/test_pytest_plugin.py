"""The pytest plugin's opt-in Airflow home: set before Airflow is imported, removed afterwards."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PROBE = """
import os, sys

def test_probe():
    print("\\nHOME=" + os.environ["AIRFLOW_HOME"])
    print("DAGS=" + os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", ""))
    print("AIRFLOW_IMPORTED=" + str("airflow" in sys.modules))
"""


def _values(result: pytest.RunResult) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in result.outlines if "=" in line and line.split("=")[0].isupper()
    )


def test_fresh_airflow_home_and_dags_folder_are_set_before_tests_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nclinical_rules_airflow_home = fresh\nclinical_rules_dags_folder = dags\n")
    pytester.makeconftest('pytest_plugins = ["clinical_rules_provider.testing.pytest_plugin"]\n')
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    values = _values(result)
    assert "airflow-home-" in values["HOME"]
    assert values["DAGS"] == str(pytester.path / "dags")
    assert values["AIRFLOW_IMPORTED"] == "False"


def test_a_wrong_home_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nclinical_rules_airflow_home = yes\n")
    pytester.makeconftest('pytest_plugins = ["clinical_rules_provider.testing.pytest_plugin"]\n')
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "clinical_rules_airflow_home must be 'fresh' or empty" in result.stderr.str()
