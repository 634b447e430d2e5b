"""Lazy package exports (PEP 562): names load on first use and are cached on the package."""

from __future__ import annotations

import importlib

import pytest

import clinical_rules_provider.models as models


def test_a_lazy_name_resolves_to_the_submodule_object_and_is_cached() -> None:
    from clinical_rules_provider.models.clinical_one import RuleJob

    assert models.RuleJob is RuleJob
    assert vars(models)["RuleJob"] is RuleJob


def test_an_unknown_name_raises_attribute_error_naming_the_package() -> None:
    with pytest.raises(AttributeError, match=r"'clinical_rules_provider\.models' has no attribute 'Nope'"):
        _ = models.Nope  # type: ignore[attr-defined]


def test_dir_lists_every_lazy_name() -> None:
    assert set(models.__all__) <= set(dir(models))


@pytest.mark.parametrize("name", models.__all__)
def test_every_exported_name_is_the_object_of_the_submodule_that_defines_it(name: str) -> None:
    value = getattr(models, name)
    assert value.__module__.startswith("clinical_rules_provider.models.")
    assert getattr(importlib.import_module(value.__module__), name) is value
