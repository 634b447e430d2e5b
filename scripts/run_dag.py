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
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

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
    return {"dag_id": dag_id, "state": str(dag_run.state), "seconds": round(seconds, 2), "tasks": tasks}


if __name__ == "__main__":
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    print(RESULT_PREFIX + json.dumps(run(sys.argv[1], conf), default=str), flush=True)
