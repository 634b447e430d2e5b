"""Run one example DAG with ``dag.test()`` (triggers inline) and print a JSON result line.

Used by ``make demo`` and the end-to-end tests, each run in its own process so Airflow's
global state never leaks between runs. Expects ``AIRFLOW_HOME`` (migrated),
``AIRFLOW__CORE__DAGS_FOLDER`` and the ``AIRFLOW_CONN_*`` connections in the environment.

    python scripts/run_dag.py <dag_id> ['{"conf": "json"}'] [--logical-date ISO|now]

Without ``--logical-date`` the run has no data interval (a manual run); with it, the DAG's
timetable infers the interval, as for a scheduled run (``data_interval_start`` is set).

A run here fails fast: every task keeps its retries, but waits at most ``RETRY_DELAY`` between
tries (the example DAGs' 5-minute delays are for production, not for a test's timeout), and a
failed run's result names each failed task's own exception (``failures``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from datetime import timedelta
from typing import Any

RESULT_PREFIX = "DAG-RESULT "
RETRY_DELAY = timedelta(seconds=1)
# Airflow's task log line that opens a failed try's traceback, and the start of any log line.
_FAILED_TRY = "Task failed with exception"
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def fail_fast(dag: Any) -> None:
    """Cap every task's wait between tries at ``RETRY_DELAY``, keeping its retries."""
    for task in dag.tasks:
        task.retry_delay = RETRY_DELAY
        task.max_retry_delay = RETRY_DELAY


def task_failures(log: str, limit: int = 3) -> list[str]:
    """The last *limit* failed tries' exceptions in a ``dag.test()`` log, each with its traceback.

    Airflow logs a failed try as one "Task failed with exception" line followed by the traceback;
    the block ends at the next timestamped log line.
    """
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        if _FAILED_TRY in line:
            current = [line]
            blocks.append(current)
        elif current is not None and _LOG_LINE.match(line):
            current = None
        elif current is not None:
            current.append(line)
    return ["\n".join(block) for block in blocks[-limit:]]


def run(dag_id: str, conf: dict[str, Any] | None, logical_date: str | None = None) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    triggers = _record_inline_triggers()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        return {
            "dag_id": dag_id,
            "state": "import_error",
            "errors": {k: str(v) for k, v in bag.import_errors.items()},
        }
    started = time.monotonic()
    when = None
    if logical_date:
        import pendulum

        when = pendulum.now("UTC") if logical_date == "now" else pendulum.parse(logical_date)
    dag = bag.dags[dag_id]
    fail_fast(dag)
    dag_run = dag.test(run_conf=conf, logical_date=when)
    seconds = time.monotonic() - started
    tasks: dict[str, Any] = {}
    with create_session() as session:
        for ti in dag_run.get_task_instances(session=session):
            tasks[ti.task_id] = {"state": str(ti.state), "try_number": ti.try_number}
        rows = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_id)).all()
        for row in rows:
            value = XComModel.deserialize_value(row)
            tasks.setdefault(row.task_id, {}).setdefault("xcom", {})[row.key] = value
    return {
        "dag_id": dag_id,
        "state": str(dag_run.state),
        "seconds": round(seconds, 2),
        "tasks": tasks,
        "triggers": triggers,
    }


def _record_inline_triggers() -> list[str]:
    """Names of the triggers ``dag.test()`` runs in line: proof that a task deferred.

    (Its log lines say so too, but not on every Airflow 3.x release's stdout.)
    """
    from airflow.sdk.definitions import dag as dag_module

    seen: list[str] = []
    original = dag_module._run_inline_trigger

    def recording(trigger: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(type(trigger).__name__)
        return original(trigger, *args, **kwargs)

    dag_module._run_inline_trigger = recording
    return seen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run one DAG with dag.test() and print a JSON result line.")
    parser.add_argument("dag_id")
    parser.add_argument("conf", nargs="?", help="run conf as JSON")
    parser.add_argument("--logical-date", help="ISO-8601 time or 'now': a run with a data interval")
    args = parser.parse_args()
    conf = json.loads(args.conf) if args.conf else None
    print(RESULT_PREFIX + json.dumps(run(args.dag_id, conf, args.logical_date), default=str), flush=True)
