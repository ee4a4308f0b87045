"""One asset group per configured sync: sources -> canonical tables -> plan -> applied LMS state.

Assets are thin: they call `rostersync_pipelines.steps` and describe the result for a person. Keys are
[sync, name], so two syncs never collide and each shows as its own group in the UI. Each asset reads only
its parents: the canonical tables carry a digest of the sources they came from (row count, content hash,
error), which is all planning needs of the sources, and the plan's value carries what apply and the
re-plan after apply need, so the lineage reads like the pipeline.
"""

from dataclasses import dataclass, field

import dagster as dg
from dagster import AssetExecutionContext

from rostersync_pipelines import progress, retention, steps
from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs import checks, metadata
from rostersync_pipelines.defs.approve import approve_job_name, approve_link
from rostersync_pipelines.defs.plan_metadata import describe_plan, plan_run_tags, rejects_metadata
from rostersync_pipelines.defs.pools import ensure_pool, target_pool
from rostersync_pipelines.defs.previews import manager_follow_ups, table_metadata
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.defs.review import after_apply, applied_metadata
from rostersync_pipelines.plan_files import DICT_COLUMNS
from rostersync_pipelines.sources import SourceTable
from rostersync_pipelines.transform.normalize import Canonical

CANONICAL = ("users", "departments", "groups", "rejects")
DIGEST = "rostersync/sources"  # the attrs key of the rejects table that carries the source digests


@dataclass
class SourceDigest:
    """What planning needs of a source as read, without its rows: enough to hold changes safely."""

    name: str
    rows: int
    error: str | None
    fingerprint: dict
    origin: dict = field(default_factory=dict)
    frame: None = None


@dataclass
class ReviewedPlan(steps.PlannedSync):
    """The plan with what applying it and re-planning after apply read: the canonical tables and digests.

    Its `plan` holds every row but not the `changes`/`values` dicts: what is applied is the plan saved in
    the state database, and linking needs only the keys and ids. The dicts are the most costly cells to
    pass between assets (two million at a million people); the one figure apply takes from them, the
    manager follow-ups it will send, is counted here instead (None in a value stored before it was)."""

    canonical: Canonical | None = None
    sources: dict[str, SourceDigest] = field(default_factory=dict)
    follow_ups: int | None = None


def digest(table: SourceTable) -> SourceDigest:
    return SourceDigest(table.name, table.rows, table.error, steps.fingerprint(table), table.origin)


def source_asset(sync_name: str, sync: Sync, source_name: str) -> dg.AssetsDefinition:
    key = dg.AssetKey([sync_name, f"source_{source_name}"])
    spec = sync.sources[source_name]

    @dg.asset(
        key=key,
        description=f"The {source_name} source of sync {sync_name}, as read: every value text.",
        check_specs=checks.specs(key, "source_read"),
        kinds={metadata.source_kind(spec)},
        **metadata.common(sync_name, sync, spec),
    )
    def _source(rostersync: RosterSyncConfig):
        config = rostersync.load()
        table = steps.read_one_source(config, sync_name, source_name)
        shown = table_metadata(table.frame) | {"read from": table.origin.get("read from", "")}
        if table.error:
            shown["error"] = table.error
        return dg.MaterializeResult(value=table, metadata=shown, check_results=[checks.source_read(table)])

    return _source


def canonical_asset(sync_name: str, sync: Sync) -> dg.AssetsDefinition:
    sources = list(sync.sources)
    part = {"fields": sync.fields, "rules": sync.rules, "status_values": sync.status_values}

    @dg.multi_asset(
        name=f"{sync_name}_canonical",
        outs={
            name: dg.AssetOut(
                key=dg.AssetKey([sync_name, name]),
                description=_CANONICAL_DESCRIPTIONS[name],
                kinds={"pandas"},
                **metadata.common(sync_name, sync, part),
            )
            for name in CANONICAL
        },
        ins={
            f"source_{name}": dg.AssetIn(key=dg.AssetKey([sync_name, f"source_{name}"])) for name in sources
        },
        required_resource_keys={"rostersync"},
    )
    def _canonical(context: AssetExecutionContext, **tables: SourceTable):
        by_name = {name: tables[f"source_{name}"] for name in sources}
        canonical = steps.canonicalize(by_name, sync)
        canonical.rejects.attrs[DIGEST] = {name: digest(table) for name, table in by_name.items()}
        for name in CANONICAL:
            frame = getattr(canonical, name)
            shown = table_metadata(frame)
            if name == "rejects":
                shown |= rejects_metadata(frame)
            yield dg.MaterializeResult(asset_key=dg.AssetKey([sync_name, name]), value=frame, metadata=shown)

    return _canonical


_CANONICAL_DESCRIPTIONS = {
    "users": "One row per person to sync, in the LMS's terms.",
    "departments": "The department tree, with each department's depth.",
    "groups": "One group per distinct value of the groups field, with member counts.",
    "rejects": "Rows that could not be imported, or were skipped, with their row number and reason.",
}


def plan_asset(sync_name: str, sync: Sync) -> dg.AssetsDefinition:
    key = dg.AssetKey([sync_name, "sync_plan"])

    @dg.asset(
        key=key,
        ins={name: dg.AssetIn(key=dg.AssetKey([sync_name, name])) for name in CANONICAL},
        description="Every change the sync would make, most urgent first, with its reason. Never writes to the LMS.",
        check_specs=checks.specs(key, "held_changes", "conflicts", "plan_errors"),
        kinds={"pandas"},
        **metadata.common(sync_name, sync, sync),
    )
    def _plan(context: AssetExecutionContext, rostersync: RosterSyncConfig, **inputs):
        config = rostersync.load()
        ensure_pool(context.instance, target_pool(sync.target))  # before two syncs race to make it
        canonical = Canonical(**{name: inputs[name] for name in CANONICAL})
        sources = canonical.rejects.attrs.get(DIGEST)
        if sources is None:
            raise dg.Failure(
                "the canonical tables do not say which sources they came from; materialize again"
            )
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
        shown, view = describe_plan(planned)
        context.instance.add_run_tags(context.run.run_id, plan_run_tags(planned, view))
        value = ReviewedPlan(
            **(vars(planned) | {"plan": planned.plan.drop(columns=list(DICT_COLUMNS))}),
            canonical=canonical,
            sources=sources,
            follow_ups=shown["manager follow-ups"],
        )
        results = [
            checks.held_changes(
                view, planned.plan_id, approve_job_name(sync_name), approve_link(sync_name, planned.plan_id)
            ),
            checks.conflicts(view),
            checks.plan_errors(view),
        ]
        return dg.MaterializeResult(value=value, metadata=shown, check_results=results)

    return _plan


def applied_asset(sync_name: str, sync: Sync) -> dg.AssetsDefinition:
    key = dg.AssetKey([sync_name, "applied_lms_state"])

    @dg.asset(
        key=key,
        ins={"sync_plan": dg.AssetIn(key=dg.AssetKey([sync_name, "sync_plan"]))},
        description="The plan applied to the LMS, journaled, then read back and re-planned to check it landed.",
        check_specs=checks.specs(key, "converged"),
        kinds={metadata.target_kind(sync.target)},
        pool=target_pool(sync.target),  # one LMS, one rate limit: syncs that share it apply in turn
        **metadata.common(sync_name, sync, sync),
    )
    def _applied(context: AssetExecutionContext, rostersync: RosterSyncConfig, sync_plan: ReviewedPlan):
        config = rostersync.load()
        follow_ups = sync_plan.follow_ups
        if follow_ups is None:  # a plan value stored before it carried the count, with the dicts
            follow_ups = manager_follow_ups(sync_plan.plan)
            sync_plan.plan = sync_plan.plan.drop(columns=list(DICT_COLUMNS))
        result = steps.apply_sync(
            config,
            sync_name,
            sync_plan.plan_id,
            sync_plan.sources,
            run_id=context.run.run_id,
            plan=sync_plan.plan,
            on_batch=progress.reporter(context.log.info),
        )
        still, waiting, lms_rows = after_apply(config, sync_name, sync_plan.canonical, sync_plan.sources)
        shown = applied_metadata(sync_plan, result, follow_ups) | {"dagster/row_count": lms_rows}
        check = checks.converged(sum(result.applied.values()), still, waiting)
        value = {
            "plan_id": sync_plan.plan_id,
            "applied": shown["applied by action"].data,
            "failed": result.failed,
        }
        return dg.MaterializeResult(value=value, metadata=shown, check_results=[check])

    return _applied


def sync_assets(sync_name: str, sync: Sync) -> list[dg.AssetsDefinition]:
    return [
        *(source_asset(sync_name, sync, name) for name in sync.sources),
        canonical_asset(sync_name, sync),
        plan_asset(sync_name, sync),
        applied_asset(sync_name, sync),
    ]
