"""Run one example DAG with ``dag.test()`` (triggers inline) and print a JSON result line.

Used by ``make demo`` and the end-to-end tests, each run in its own process so Airflow's
global state never leaks between runs. Expects ``AIRFLOW_HOME`` (migrated),
``AIRFLOW__CORE__DAGS_FOLDER`` and the ``AIRFLOW_CONN_*`` connections in the environment.

    python scripts/run_dag.py <dag_id> ['{"conf": "json"}']
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

RESULT_PREFIX = "DAG-RESULT "


def run(dag_id: str, conf: dict[str, Any] | None) -> dict[str, Any]:
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
    dag_run = bag.dags[dag_id].test(run_conf=conf)
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
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    print(RESULT_PREFIX + json.dumps(run(sys.argv[1], conf), default=str), flush=True)
