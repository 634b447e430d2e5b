"""`make mutation`: mutation testing of ``clients/``, ``job_watch.py`` and the publish state store.

Runs mutmut (pinned in ``mutation/requirements.txt``) from its own venv. mutmut 3 imports the
mutated package from ``mutants/src`` (it strips only a ``src.`` prefix from module names), while
this repository keeps the package under ``provider/``; so the run happens in a scratch
workspace, ``.mutation/``, where ``src`` and ``tests`` are links to ``provider/`` and ``tests/``
and ``pyproject.toml`` is this repository's plus a ``[tool.mutmut]`` table written from
:data:`MUTATE` and :data:`TESTS` below. Each mutant runs only the tests that reached its
function in a first, clean run of :data:`TESTS`.

Writes ``mutation/results.json`` (kill rate per module and overall, every surviving mutant with
its diff and, when ``mutation/equivalents.json`` explains it, why it is equivalent) and the
results section of ``docs/mutation-testing.md``. Exit status 1 when a survivor is unexplained
or the overall kill rate is below ``--min-kill-rate``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / ".mutation"
RESULTS = ROOT / "mutation" / "results.json"
EQUIVALENTS = ROOT / "mutation" / "equivalents.json"
DOC = ROOT / "docs" / "mutation-testing.md"
DOC_START, DOC_END = "<!-- mutation-results:start -->", "<!-- mutation-results:end -->"

# What is mutated (paths as the workspace sees them: ``src`` is ``provider``).
MUTATE = (
    "src/clinical_rules_provider/clients/*",
    "src/clinical_rules_provider/job_watch.py",
    "src/clinical_rules_provider/operators/_publish_state.py",
)
# The fast unit tests of those modules (about 10 s for a clean run). The operator tests
# (tests/operators/test_publish_run*.py) are left out: they run tasks against the simulator and
# wait out poll and settle intervals in real time, and mutmut runs a mutant's tests in no useful
# order, so a mutant of the publish path waited seconds for them before a unit test killed it
# (a full run took over 40 minutes instead of about 15). What they guard in these modules has
# unit tests in tests/clients/ and tests/operators/test_publish_state.py.
TESTS = (
    "tests/clients",
    "tests/test_job_watch.py",
    "tests/operators/test_publish_state.py",
)
# mutmut's verdicts (``mutmut.stats.status_by_exit_code``) that count as a kill.
KILLED = ("killed", "timeout", "caught by type check")


@dataclass
class Mutant:
    name: str
    module: str
    function: str
    status: str
    line: int | None = None
    original: str = ""
    mutated: str = ""
    diff: str = ""
    why_equivalent: str | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--min-kill-rate", type=float, default=85.0, help="percent (default 85)")
    parser.add_argument(
        "--only",
        nargs="*",
        default=[],
        help="mutant name patterns to test (e.g. 'clinical_rules_provider.clients.vault.*'); "
        "the others stay 'not checked'",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the last run's .mutation/ and test again only the mutants it did not kill, "
        "with the tests as they are now (for new tests; a change of the mutated code needs a full run)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="re-read the last run's .mutation/ without running"
    )
    return parser.parse_args()


def toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def prepare_workspace() -> None:
    """A fresh ``.mutation/``: links to the sources and tests, and the mutmut configuration."""
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    WORKSPACE.mkdir()
    (WORKSPACE / "src").symlink_to(ROOT / "provider", target_is_directory=True)
    (WORKSPACE / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    config = (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {toml_list(MUTATE)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(TESTS)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        # Each mutant forks from a server that has collected the tests but run none: forked
        # from the process that ran them, a mutant inherits the simulator's threads as dead
        # objects and an operator test waits on them until mutmut's timeout (a false kill).
        'process_isolation = "forkserver"\n'
    )
    # mutmut hands each mutant's tests to pytest by node id; an escaped id (a parameter with a
    # backslash or a non-ASCII character) does not match itself that way, pytest exits with
    # "usage error" and mutmut reports a timeout. Unescaped ids round-trip.
    pyproject = (
        (ROOT / "pyproject.toml")
        .read_text()
        .replace(
            "[tool.pytest.ini_options]\n",
            "[tool.pytest.ini_options]\n"
            "disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true\n",
            1,
        )
    )
    (WORKSPACE / "pyproject.toml").write_text(pyproject + config)


def run_mutmut(jobs: int, only: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AIRFLOW_HOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    mutmut = Path(sys.executable).parent / "mutmut"
    cmd = [str(mutmut), "run", "--max-children", str(jobs), *only]
    shown = " ".join(cmd[:4]) + (f" <{len(only)} mutant name(s)>" if only else "")
    print("+", shown, f"(in {WORKSPACE})", flush=True)
    subprocess.run(cmd, cwd=WORKSPACE, env=env, check=True)


def function_span(source: str, function: str) -> tuple[int, int] | None:
    """First line (its first decorator's) and last line of ``function`` (``name`` or ``Class.name``)."""
    tree = ast.parse(source)
    cls, _, name = function.rpartition(".")
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if cls and isinstance(node, ast.ClassDef) and node.name == cls:
            found = next((i for i in node.body if isinstance(i, kinds) and i.name == name), None)
        elif not cls and isinstance(node, kinds) and node.name == name:
            found = node
        else:
            continue
        if found is not None:
            first = min([found.lineno, *(d.lineno for d in found.decorator_list)])
            return first, found.end_lineno or found.lineno
    return None


def collect() -> list[Mutant]:
    """Every mutant of the last run, with its verdict; survivors with diff and line."""
    os.chdir(WORKSPACE)
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    mutants: list[Mutant] = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        module = str(Path(*path.parts[1:]).with_suffix(""))
        source = path.read_text()
        for name, exit_code in data.exit_code_by_key.items():
            fn, cls = orig_function_and_class_names_from_key(name)
            function = f"{cls}.{fn}" if cls else fn
            # 255: the worker raised before pytest could run the tests (mutmut calls it a timeout).
            status = "error" if exit_code == 255 else status_by_exit_code[exit_code]
            mutant = Mutant(name, module, function, status)
            if mutant.status not in KILLED:
                mutant.diff = get_diff_for_mutant(name, path=path)
                removed = [ln[1:] for ln in mutant.diff.splitlines() if ln.startswith("-") and ln[1:2] != "-"]
                added = [ln[1:] for ln in mutant.diff.splitlines() if ln.startswith("+") and ln[1:2] != "+"]
                mutant.original = "\n".join(s.strip() for s in removed)
                mutant.mutated = "\n".join(s.strip() for s in added)
                mutant.line = locate(source, function, mutant.diff)
            mutants.append(mutant)
    os.chdir(ROOT)
    return mutants


def locate(source: str, function: str, diff: str) -> int | None:
    """The file line of a mutant's first changed line: the diff is of the function alone, so its
    hunk header counts lines from the function's first line."""
    span = function_span(source, function)
    if span is None:
        return None
    offset = None
    for line in diff.splitlines():
        if line.startswith("@@"):
            offset = int(line.split()[1].lstrip("-").split(",")[0])
        elif offset is not None and line.startswith(" "):
            offset += 1
        elif offset is not None and line.startswith("-"):
            return span[0] + offset - 1
    return span[0]


def explain(mutants: list[Mutant]) -> list[dict[str, str]]:
    """Mark each survivor that ``equivalents.json`` explains; return the entries nothing matched."""
    entries: list[dict[str, str]] = json.loads(EQUIVALENTS.read_text()) if EQUIVALENTS.exists() else []
    used: set[int] = set()
    for mutant in mutants:
        if mutant.status != "survived":  # only a mutant the tests ran against can be equivalent
            continue
        for i, entry in enumerate(entries):
            if (entry["module"], entry["function"], entry["original"], entry["mutated"]) == (
                mutant.module,
                mutant.function,
                mutant.original,
                mutant.mutated,
            ):
                mutant.why_equivalent = entry["why"]
                used.add(i)
                break
    return [e for i, e in enumerate(entries) if i not in used]


def rate(killed: int, total: int) -> float:
    return round(100.0 * killed / total, 1) if total else 100.0


def summarize(
    mutants: list[Mutant], seconds: float, stale: list[dict[str, str]], mode: str
) -> dict[str, Any]:
    modules: dict[str, dict[str, Any]] = {}
    for module in sorted({m.module for m in mutants}):
        mine = [m for m in mutants if m.module == module]
        statuses = Counter(m.status for m in mine)
        killed = sum(statuses[s] for s in KILLED)
        equivalent = sum(1 for m in mine if m.why_equivalent)
        modules[module] = {
            "mutants": len(mine),
            "killed": killed,
            "equivalent": equivalent,
            "unexplained": len(mine) - killed - equivalent,
            "statuses": dict(sorted(statuses.items())),
            "kill_rate": rate(killed, len(mine)),
        }
    total = len(mutants)
    killed = sum(m["killed"] for m in modules.values())
    equivalent = sum(m["equivalent"] for m in modules.values())
    survivors = [m for m in mutants if m.status not in KILLED]
    return {
        "tool": "mutmut " + _mutmut_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": mode,
        "seconds": round(seconds),
        "mutated": list(MUTATE),
        "tests": list(TESTS),
        "overall": {
            "mutants": total,
            "killed": killed,
            "equivalent": equivalent,
            "unexplained": total - killed - equivalent,
            "kill_rate": rate(killed, total),
            "kill_rate_of_non_equivalent": rate(killed, total - equivalent),
        },
        "modules": modules,
        "survivors": [
            {
                "name": m.name,
                "module": m.module,
                "function": m.function,
                "line": m.line,
                "status": m.status,
                "original": m.original,
                "mutated": m.mutated,
                "why_equivalent": m.why_equivalent,
            }
            for m in sorted(survivors, key=lambda m: (m.module, m.line or 0, m.name))
        ],
        "stale_equivalents": stale,
    }


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("\n", " / ") + "`" if text else "(deleted)"


def markdown(result: dict[str, Any]) -> str:
    overall = result["overall"]
    lines = [
        f"Last run: {result['date']}, {result['tool']}, {result['mode']} ({result['seconds']} s); "
        f"{overall['mutants']} mutants, {overall['killed']} killed, {overall['equivalent']} equivalent, "
        f"{overall['unexplained']} unexplained.",
        "",
        "| Module | Mutants | Killed | Equivalent | Unexplained | Kill rate |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for module, m in result["modules"].items():
        lines.append(
            f"| `{module}` | {m['mutants']} | {m['killed']} | {m['equivalent']} | {m['unexplained']} "
            f"| {m['kill_rate']} % |"
        )
    lines.append(
        f"| **overall** | {overall['mutants']} | {overall['killed']} | {overall['equivalent']} "
        f"| {overall['unexplained']} | **{overall['kill_rate']} %** |"
    )
    lines += [
        "",
        f"Kill rate without the equivalent mutants: {overall['kill_rate_of_non_equivalent']} %.",
        "",
        "### Surviving mutants",
        "",
        "| Module | Line | Original | Mutant | Why it is equivalent |",
        "|---|---:|---|---|---|",
    ]
    for s in result["survivors"]:
        why = s["why_equivalent"] or f"**not explained** ({s['status']})"
        lines.append(
            f"| `{s['module']}` | {s['line']} | {cell(s['original'])} | {cell(s['mutated'])} | {why} |"
        )
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else ""
    head, start, rest = doc.partition(DOC_START)
    _, end, tail = rest.partition(DOC_END)
    if not start or not end:
        print(f"{DOC}: no {DOC_START} ... {DOC_END} section; not updated", file=sys.stderr)
        return
    DOC.write_text(f"{head}{DOC_START}\n{text}\n{DOC_END}{tail}")


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    if args.resume:
        # mutmut copies tests/ again on every run; without its stats it maps them afresh, so
        # new tests reach the mutants they cover. A mutant named on the command line is tested
        # again; every other keeps its verdict.
        (WORKSPACE / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
        again = [m.name for m in collect() if m.status not in KILLED]
        run_mutmut(args.jobs, again)
    elif not args.report_only:
        prepare_workspace()
        run_mutmut(args.jobs, args.only)
    seconds = time.monotonic() - started
    mutants = collect()
    stale = explain(mutants)
    mode = "resume" if args.resume else "report-only" if args.report_only else "full run"
    result = summarize(mutants, seconds, stale, mode)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    write_doc(table)
    print(table)
    if stale:
        print(f"\n{len(stale)} entries of {EQUIVALENTS.name} match no survivor (stale?)", file=sys.stderr)
    overall = result["overall"]
    if overall["unexplained"] or overall["kill_rate"] < args.min_kill_rate:
        print(
            f"\nmutation: {overall['unexplained']} unexplained survivor(s), kill rate "
            f"{overall['kill_rate']} % (minimum {args.min_kill_rate} %)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
