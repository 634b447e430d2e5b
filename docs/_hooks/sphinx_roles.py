"""MkDocs hook: turn Sphinx roles left in docstrings into cross-references.

The provider's docstrings use Sphinx field lists (parsed by mkdocstrings with
``docstring_style: sphinx``) and inline roles such as ``:class:`VaultHook``` or
``:meth:`get_job_status```. mkdocstrings renders a role as the literal text ``:class:``
followed by a code span. This hook runs before autorefs resolves cross-references
(``on_env``), finds each rendered role, resolves its target relative to the nearest
API heading (method -> class -> module -> package), then globally by unique suffix,
and replaces it with an autorefs tag (or a plain code span when nothing matches).
"""

from __future__ import annotations

import re
from typing import Any

_TOKENS = re.compile(
    r'id="(?P<anchor>clinical_rules_provider(?:\.\w+)+)"'
    r"|:(?:class|meth|func|exc|attr|mod|data|obj|py:\w+):<code>(?P<target>[~.]*[\w.]+)</code>"
)


def _known(plugin: Any) -> set[str]:
    urls = getattr(plugin, "_primary_url_map", None) or {}
    return {key for key in urls if key.startswith("clinical_rules_provider.")}


def _resolve(target: str, context: str | None, known: set[str]) -> str | None:
    if target in known:
        return target
    if context:
        parts = context.split(".")
        while parts:
            candidate = ".".join([*parts, target])
            if candidate in known:
                return candidate
            parts.pop()
    matches = sorted(k for k in known if k.endswith("." + target))
    return matches[0] if len(matches) == 1 else None


def _rewrite(html: str, known: set[str]) -> str:
    context: str | None = None
    out: list[str] = []
    last = 0
    for match in _TOKENS.finditer(html):
        if match["anchor"]:
            context = match["anchor"]
            continue
        raw = match["target"]
        target = raw.lstrip("~.")
        shown = target.rsplit(".", 1)[-1] if raw.startswith("~") else target
        identifier = _resolve(target, context, known)
        out.append(html[last : match.start()])
        if identifier:
            out.append(f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>')
        else:
            out.append(f"<code>{shown}</code>")
        last = match.end()
    out.append(html[last:])
    return "".join(out)


def on_env(env: Any, /, *, config: Any, files: Any) -> Any:
    known = _known(config.plugins.get("autorefs"))
    for file in files:
        page = file.page
        if page is not None and page.content and ":<code>" in page.content:
            page.content = _rewrite(page.content, known)
    return env
