"""One asset group per configured sync: sources -> canonical tables -> plan -> applied LMS state.

Assets are thin: they call `rostersync_pipelines.steps` and describe the result for a person. Keys are
[sync, name], so two syncs never collide and each shows as its own group in the UI.
"""

import dagster as dg
from dagster import AssetExecutionContext

from rostersync_pipelines import progress, retention, steps
from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs.previews import markdown_table, table_metadata
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.reconcile.rows import DESTRUCTIVE
from rostersync_pipelines.sources import SourceTable
from rostersync_pipelines.transform.normalize import Canonical

CANONICAL = ("users", "departments", "groups", "rejects")
PLAN_PREVIEW = ["entity", "action", "situation", "key", "reason", "held"]


def source_asset(sync_name: str, source_name: str) -> dg.AssetsDefinition:
    key = dg.AssetKey([sync_name, f"source_{source_name}"])

    @dg.asset(
        key=key,
        group_name=sync_name,
        description=f"The {source_name} source of sync {sync_name}, as read: every value text.",
        check_specs=[dg.AssetCheckSpec("source_read", asset=key, description="the source could be read")],
        kinds={"pandas"},
    )
    def _source(rostersync: RosterSyncConfig):
        config = rostersync.load()
        table = steps.read_one_source(config, sync_name, source_name)
        metadata = table_metadata(table.frame) | ({"error": table.error} if table.error else {})
        check = dg.AssetCheckResult(
            passed=table.error is None,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"error": table.error or "", "rows": table.rows},
        )
        return dg.MaterializeResult(value=table, metadata=metadata, check_results=[check])

    return _source


def canonical_asset(sync_name: str, sync: Sync) -> dg.AssetsDefinition:
    sources = list(sync.sources)

    @dg.multi_asset(
        name=f"{sync_name}_canonical",
        group_name=sync_name,
        outs={
            name: dg.AssetOut(key=dg.AssetKey([sync_name, name]), description=_CANONICAL_DESCRIPTIONS[name])
            for name in CANONICAL
        },
        ins={
            f"source_{name}": dg.AssetIn(key=dg.AssetKey([sync_name, f"source_{name}"])) for name in sources
        },
        required_resource_keys={"rostersync"},
    )
    def _canonical(context: AssetExecutionContext, **tables: SourceTable):
        config = context.resources.rostersync.load()
        by_name = {name: tables[f"source_{name}"] for name in sources}
        canonical = steps.canonicalize(by_name, config.syncs[sync_name])
        for name in CANONICAL:
            frame = getattr(canonical, name)
            metadata = table_metadata(frame)
            if name == "rejects":
                metadata["by outcome"] = dg.MetadataValue.json(frame["outcome"].value_counts().to_dict())
                metadata["preview"] = markdown_table(frame, ["source", "row", "key", "outcome", "reason"])
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey([sync_name, name]), value=frame, metadata=metadata
            )

    return _canonical


_CANONICAL_DESCRIPTIONS = {
    "users": "One row per person to sync, in the LMS's terms.",
    "departments": "The department tree, with each department's depth.",
    "groups": "One group per distinct value of the groups field, with member counts.",
    "rejects": "Rows that could not be imported, or were skipped, with their row number and reason.",
}


def _planning_inputs(sync_name: str, sync: Sync) -> dict[str, dg.AssetIn]:
    """The canonical tables and the sources as read: what planning (and re-planning after apply) takes."""
    ins = {name: dg.AssetIn(key=dg.AssetKey([sync_name, name])) for name in CANONICAL}
    for name in sync.sources:
        ins[f"source_{name}"] = dg.AssetIn(key=dg.AssetKey([sync_name, f"source_{name}"]))
    return ins


def plan_asset(sync_name: str, sync: Sync) -> dg.AssetsDefinition:
    key = dg.AssetKey([sync_name, "sync_plan"])
    ins = _planning_inputs(sync_name, sync)

    @dg.asset(
        key=key,
        group_name=sync_name,
        ins=ins,
        description="Every change the sync would make, with its situation and reason. Never writes to the LMS.",
        check_specs=[
            dg.AssetCheckSpec(
                "held_changes", asset=key, blocking=True, description="destructive changes held for approval"
            )
        ],
        kinds={"pandas"},
    )
    def _plan(context: AssetExecutionContext, rostersync: RosterSyncConfig, **inputs):
        config = rostersync.load()
        canonical = Canonical(**{name: inputs[name] for name in CANONICAL})
        sources = {name: inputs[f"source_{name}"] for name in sync.sources}
        applied_key = dg.AssetKey([sync_name, "applied_lms_state"])
        selection = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
        planned = steps.plan_sync(
            config,
            sync_name,
            sources,
            canonical,
            run_id=context.run.run_id,
            will_apply=applied_key in selection,
        )
        retention.prune_personal_data(config)
        plan, summary = planned.plan, planned.summary
        changing = plan[plan["action"] != "none"]
        held = changing[changing["held"]]
        metadata = {
            "plan_id": planned.plan_id,
            "plan_file": dg.MetadataValue.path(planned.plan_file),
            "dagster/row_count": len(plan),
            "changes": len(changing),
            "held": len(held),
            "conflicts": summary["conflicts"],
            "rejected_rows": summary["rejected_rows"],
            "summary": dg.MetadataValue.json(summary),
            "preview": markdown_table(changing, PLAN_PREVIEW),
        }
        for entity in ("users", "departments", "groups"):
            for action, count in summary[entity].items():
                metadata[f"{entity} {action}"] = count
        check = dg.AssetCheckResult(
            passed=held.empty,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{len(held)} destructive changes held: release them with `rostersync approve {planned.plan_id}`"
                if len(held)
                else "nothing held"
            ),
            metadata={"held": len(held), **{k: v for k, v in summary["held"].items()}},
        )
        return dg.MaterializeResult(value=planned, metadata=metadata, check_results=[check])

    return _plan


def applied_asset(sync_name: str, sync: Sync) -> dg.AssetsDefinition:
    key = dg.AssetKey([sync_name, "applied_lms_state"])
    ins = {"sync_plan": dg.AssetIn(key=dg.AssetKey([sync_name, "sync_plan"]))}
    ins |= _planning_inputs(sync_name, sync)

    @dg.asset(
        key=key,
        group_name=sync_name,
        ins=ins,
        description="The plan applied to the LMS, journaled, then read back and checked.",
        check_specs=[
            dg.AssetCheckSpec(
                "nothing_left_to_do",
                asset=key,
                blocking=True,
                description="re-planning after apply finds nothing left to do",
            )
        ],
        kinds={"sqlalchemy"},
    )
    def _applied(
        context: AssetExecutionContext, rostersync: RosterSyncConfig, sync_plan: steps.PlannedSync, **inputs
    ):
        config = rostersync.load()
        sources = {name: inputs[f"source_{name}"] for name in sync.sources}
        canonical = Canonical(**{name: inputs[name] for name in CANONICAL})
        result = steps.apply_sync(
            config,
            sync_name,
            sync_plan.plan_id,
            sources,
            run_id=context.run.run_id,
            plan=sync_plan.plan,
            on_batch=progress.reporter(context.log.info),
        )
        remaining = steps.remaining_changes(config, sync_name, canonical, sources)
        applied = {f"{entity} {action}": count for (entity, action), count in sorted(result.applied.items())}
        metadata = {
            "plan_id": sync_plan.plan_id,
            "applied": sum(result.applied.values()),
            "failed": len(result.failed),
            "retried": result.retried,
            "adopted after a crash": result.adopted,
            "already applied": result.skipped,
            "quarantined": int(sync_plan.plan["error"].fillna("").str.startswith("set aside").sum()),
            "applied by action": dg.MetadataValue.json(applied),
        }
        if result.stopped:
            metadata["stopped"] = result.stopped
        if result.failed:
            metadata["failures"] = dg.MetadataValue.md(
                "\n".join(f"- {entity} `{key}`: {message}" for entity, key, message in result.failed[:50])
            )
        check = dg.AssetCheckResult(
            passed=remaining.empty,
            metadata={
                "remaining": len(remaining),
                "destructive remaining": int(remaining["action"].isin(DESTRUCTIVE).sum()),
                "preview": markdown_table(remaining, PLAN_PREVIEW),
            },
        )
        value = {"plan_id": sync_plan.plan_id, "applied": applied, "failed": result.failed}
        return dg.MaterializeResult(value=value, metadata=metadata, check_results=[check])

    return _applied


def sync_assets(sync_name: str, sync: Sync) -> list[dg.AssetsDefinition]:
    return [
        *(source_asset(sync_name, name) for name in sync.sources),
        canonical_asset(sync_name, sync),
        plan_asset(sync_name, sync),
        applied_asset(sync_name, sync),
    ]
