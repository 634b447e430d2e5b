"""The provider touches no private name of another package (issue 24: an httpcore upgrade must
not break it silently), and none of another object of its own except through ``self``/``cls``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "provider" / "clinical_rules_provider"
OURS = "clinical_rules_provider"
REFLECTION = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(source: str) -> list[str]:
    """Each private access in ``source``: ``x._name`` (``x`` not ``self``/``cls``),
    ``getattr(x, "_name")``, and imports of a private module or name from another package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REFLECTION:
            target, name = [*node.args, None, None][:2]
            on_self = isinstance(target, ast.Name) and target.id in ("self", "cls")
            named = isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value)
            if named and not on_self:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != OURS and (
                any(_private(part) for part in node.module.split("."))
                or any(_private(alias.name) for alias in node.names)
            ):
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != OURS and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "import httpcore\nhttpcore.AsyncConnectionPool()._pool",
        "client._transport._pool",
        "getattr(response, '_content', None)",
        "from httpx._types import URLTypes",
        "from httpcore import _exceptions",
        "import httpcore._async.connection_pool",
        "hook._http.close()",
    ],
)
def test_the_check_finds_a_private_access(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "self._http = None",
        "cls._form_fields",
        "getattr(self, '_wait_started', None)",
        "obj.__name__",
        "from __future__ import annotations",
        "from clinical_rules_provider.testing import _seed",
    ],
)
def test_the_check_lets_own_and_dunder_names_through(source: str) -> None:
    assert violations(source) == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_touches_a_private_name_of_another_object(path: Path) -> None:
    assert violations(path.read_text()) == []
