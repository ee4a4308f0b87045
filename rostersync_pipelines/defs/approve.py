"""`<sync>_approve_job`: release a plan's held changes from the UI, as `rostersync approve PLAN_ID` does.

The launchpad asks for the plan id (the held_changes check shows it, with a link that fills it in). An
approval releases exactly the held changes of that plan, at the sync's next run; it writes nothing to the LMS
itself, so approving the wrong plan costs nothing until a sync runs.
"""

from urllib.parse import quote

import dagster as dg
from pydantic import Field

from rostersync_pipelines.defs.checks import LOCATION
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.state import StateStore


def approve_job_name(sync_name: str) -> str:
    return f"{sync_name}_approve_job"


def approve_op_name(sync_name: str) -> str:
    return f"{sync_name}_approve_plan"  # op names are unique across the code location


def approve_link(sync_name: str, plan_id: str) -> str:
    """The approve job's launchpad with the plan id filled in (relative to the Dagster UI's root)."""
    run_config = f"ops:\n  {approve_op_name(sync_name)}:\n    config:\n      plan_id: {plan_id}\n"
    return f"/locations/{LOCATION}/jobs/{approve_job_name(sync_name)}/playground/setup?config={quote(run_config)}"


class ApprovePlan(dg.Config):
    plan_id: str = Field(
        description="the plan whose held changes to release: the held_changes check of sync_plan shows it"
    )


def approve_job(sync_name: str, tags: dict[str, str]) -> dg.JobDefinition:
    plan_key = dg.AssetKey([sync_name, "sync_plan"])

    @dg.op(
        name=approve_op_name(sync_name),
        description=f"Release the held changes of one plan of sync {sync_name}.",
        out={},  # nothing to store: the approval is in the state database
    )
    def approve_plan(context: dg.OpExecutionContext, config: ApprovePlan, rostersync: RosterSyncConfig):
        settings = rostersync.load()
        plan_id = config.plan_id.strip()
        store = StateStore(settings.resolve_url(settings.state.url))
        try:
            plan = store.plan(plan_id)
            if plan is None or plan["sync"] != sync_name:
                raise dg.Failure(f"sync {sync_name} has no plan with id '{plan_id}'; copy it from sync_plan")
            changes = store.plan_changes(plan_id)
            held = int(changes["held"].sum()) if len(changes) else 0
            store.approve(plan_id)
        finally:
            store.dispose()
        context.instance.add_run_tags(context.run.run_id, {"rostersync/plan_id": plan_id})
        message = f"approved plan {plan_id}: its {held} held changes apply at the next sync of {sync_name}"
        context.log.info(message)
        context.log_event(
            dg.AssetObservation(
                asset_key=plan_key,
                description=message,
                metadata={"approved plan": plan_id, "released": held, "plan status": plan["status"]},
            )
        )

    @dg.job(
        name=approve_job_name(sync_name),
        description=f"Approve a plan of sync {sync_name}: its held changes apply at the next sync.",
        tags=tags,
        executor_def=dg.in_process_executor,
    )
    def _approve():
        approve_plan()

    return _approve
