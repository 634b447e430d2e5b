"""Run the asset-event example pair with ``dag.test()`` and print a JSON result line.

1. ``rules_asset_publisher`` runs (deferral included); Airflow records the asset event its
   outlet got, with the extra the operator attached.
2. ``dag.test()`` has no scheduler to turn that event into a run of ``rules_asset_consumer``,
   so this script does that one step itself: it creates the consumer's test run with the
   recorded event as its consumed (triggering) event, as the scheduler would, and runs it.

Expects the environment of ``scripts/run_dag.py`` (migrated ``AIRFLOW_HOME``, DAGs folder,
``AIRFLOW_CONN_*``) plus ``CLINICAL_ONE_ASSET_HOST``.

    python scripts/run_asset_dags.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from run_dag import RESULT_PREFIX, fail_fast  # the same directory

PUBLISHER, CONSUMER = "rules_asset_publisher", "rules_asset_consumer"


def _bag() -> Any:
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def _task_results(dag_run: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    tasks: dict[str, Any] = {}
    with create_session() as session:
        for ti in dag_run.get_task_instances(session=session):
            tasks[ti.task_id] = {"state": str(ti.state)}
        rows = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)).all()
        for row in rows:
            if row.key == "return_value":
                tasks.setdefault(row.task_id, {})["return_value"] = XComModel.deserialize_value(row)
    return tasks


def run() -> dict[str, Any]:
    from unittest import mock

    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    bag = _bag()
    if bag.import_errors:
        return {"state": "import_error", "errors": {k: str(v) for k, v in bag.import_errors.items()}}
    uri = bag.dags[PUBLISHER].get_task("republish").outlets[0].uri
    if hasattr(bag, "sync_to_db"):
        # Airflow 3.0's dag.test() does not activate the DAG's assets (3.1+ does), and an
        # inactive outlet fails the task: store the bag as the DAG processor would first.
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()
        bag.sync_to_db("dags-folder", None)
    fail_fast(bag.dags[PUBLISHER])
    fail_fast(bag.dags[CONSUMER])
    published = bag.dags[PUBLISHER].test()
    result: dict[str, Any] = {"publisher": {"state": str(published.state), "tasks": _task_results(published)}}
    with create_session() as session:
        event = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == published.run_id)
            .order_by(AssetEvent.id.desc())
        ).first()
        result["asset_event"] = None if event is None else {"uri": uri, "extra": event.extra, "id": event.id}
    if event is None:
        return result

    # Where dag.test() creates its run: airflow.models.dagrun (3.1+) or airflow.models.dag (3.0).
    import airflow.models.dag as dag_module

    target, name = (
        (dagrun_module, "get_or_create_dagrun")
        if hasattr(dagrun_module, "get_or_create_dagrun")
        else (dag_module, "_get_or_create_dagrun")
    )
    original = getattr(target, name)

    def with_triggering_event(*args: Any, **kwargs: Any) -> Any:
        dag_run = original(*args, **kwargs)
        session = object_session(dag_run)
        assert session is not None
        dag_run.consumed_asset_events.append(session.get(AssetEvent, result["asset_event"]["id"]))
        session.flush()
        return dag_run

    with mock.patch.object(target, name, with_triggering_event):
        consumed = bag.dags[CONSUMER].test()
    result["consumer"] = {"state": str(consumed.state), "tasks": _task_results(consumed)}
    return result


if __name__ == "__main__":
    print(RESULT_PREFIX + json.dumps(run(), default=str), flush=True)
