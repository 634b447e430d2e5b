"""MkDocs hook: accept ``:param:`` lines for parameters a class forwards through ``**kwargs``.

The operators document every parameter they accept (the project's convention), including
those their ``__init__`` passes on to a shared base class through ``**kwargs`` (for example
``study_id`` or ``vault_conn_id`` of the cancel operators). griffe compares a docstring's
``:param:`` lines with the documented callable's own signature only, so it warns twice per
forwarded parameter ("does not appear in the function signature", "No matching parameter"),
and ``mkdocs build --strict`` aborts. This hook drops exactly those two griffe warnings; every
other docstring warning still fails the strict build.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_FORWARDED = re.compile(
    r"Parameter '\w+' does not appear in the function signature|No matching parameter for '\w+'"
)


class _ForwardedParamFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _FORWARDED.search(record.getMessage())


_FILTER = _ForwardedParamFilter()


def on_startup(*, command: str, dirty: bool) -> None:
    # mkdocstrings routes griffe's logger to "mkdocs.plugins.griffe".
    for name in ("mkdocs.plugins.griffe", "griffe"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def on_config(config: Any) -> Any:
    on_startup(command="build", dirty=False)
    return config
