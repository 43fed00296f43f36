"""Backup verification: the runbook's `backup:verify`, `backup:test-restore` and `backup:cleanup`,
continuous and evidence-based. Fails closed: an API error or an empty listing is a blind spot,
never "all good".

Triggers:
  {"task": "verify", "at", "resource"?}        hourly: freshness, retention (and the resource's only);
                                                with an organization, then one "Member Backups Due" per
                                                member account onto the ops bus
  ops "Member Backups Due" {account}            that account's protected resources and backup plan in
                                                every watched Region, through its spoke role (the
                                                spoke's vault and plan: stacks/spoke_stack.py)
  aws.backup "Backup Job State Change"          FAILED/ABORTED/EXPIRED/PARTIAL → incident; COMPLETED →
                                                recheck; the others (CREATED, PENDING, RUNNING, …) and
                                                events naming no resource are ignored with the reason.
                                                A member account's (forwarded by its spokes to the
                                                intake bus) is judged there, through its spoke role;
                                                an account × Region not watched is refused and counted
  aws.backup "Restore Job State Change"         COMPLETED → validate the content, RTO, clean up;
                                                FAILED/ABORTED → incident
  other aws.backup events (Copy Job, …)         ignored with the reason
  {"task": "cleanup", "dry_run"?}               orphaned recovery points
  {"task": "test-restore", "resource", "by"}    opsctl: start a restore of the newest recovery point
  {"task": "restore-tests"}                     daily: our own restore test of the critical resource
                                                whose last validated restore is oldest (if too old)
Starting a restore test is an action: it passes the guardrails (capability restore_test), so it can be
paused, run in dry-run, and stops inside a maintenance window covering backups (humans excepted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import MalformedEvent, Unreachable, is_transient
from controlplane.events import (
    BACKUP_COMPONENT,
    BACKUP_JOB_STATE_CHANGE,
    MEMBER_BACKUPS_DUE,
    OPS_SOURCE,
    restore_copy_prefix,
    restore_testing_plan_name,
)
from controlplane.guardrails import ActionRequest, Decision, Guardrails, Plan
from controlplane.ledger import IncidentLedger
from controlplane.records import BackupLedger
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies
from findings import Finding, FindingSink, check_alarm_name
from restore_validation import Validator, name_of

FAILED_JOB_STATES = ("FAILED", "ABORTED", "EXPIRED", "PARTIAL")
RESOURCE_TYPES = {"s3": "S3", "dynamodb": "DynamoDB", "rds": "RDS"}
# The restore metadata key naming the copy, per resource type, and what else AWS Backup needs to
# restore into a new resource rather than over the original (AWS Backup's restore pages per type).
COPY_METADATA = {"S3": ("DestinationBucketName", {"NewBucket": "true"}),
                 "DynamoDB": ("targetTableName", {}),
                 "RDS": ("DBInstanceIdentifier", {})}
API_ERRORS = (ClientError, BotoCoreError)
# The session name of the spoke role's look at a member's backups (CloudTrail shows it there).
VERIFY_SESSION = "backup-verify"


def retry_if_transient(error: Exception) -> None:
    if is_transient(error):
        raise error


@dataclass(frozen=True)
class Place:
    """An account and Region whose backups are verified: the hub's own (its function's credentials),
    or a member's, through that account's spoke role."""

    account: str
    region: str

    def finding(self, check: str, subject: str, state: str, reason: str, observed_at: str) -> Finding:
        return Finding(check, subject, state, reason, observed_at, self.account, self.region)


@dataclass(frozen=True)
class Protected:
    arn: str
    backup_class: str
    rpo_minutes: int
    rto_tier: str

    @property
    def resource_type(self) -> str:
        return resource_type_of(self.arn)


def resource_type_of(arn: str) -> str:
    """AWS Backup's name for the resource type of an ARN (S3, DynamoDB, RDS)."""
    service = arn.split(":")[2]
    return RESOURCE_TYPES.get(service, service)


@dataclass
class Run:
    """What one invocation found, measured and did."""

    findings: list[Finding]
    metrics: list[tuple[str, float, str, dict[str, str]]]  # name, value, unit, dimensions (per resource)
    notes: list[dict[str, Any]]

    def as_dict(self, sent: list[Finding]) -> dict[str, Any]:
        return {"checks": self.notes, "findings": [f.__dict__ for f in self.findings],
                "sent": [f.__dict__ for f in sent],
                "outcomes": [{"result": "rejected", "reason": f"{note['target']}: {note['reason']}"}
                             for note in self.notes if note["result"] == "rejected"]}

    def add(self, other: Run) -> None:
        self.findings += other.findings
        self.metrics += other.metrics
        self.notes += other.notes


class BackupService:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.organization = self.policy.organization
        self.hub = Place(self.policy.account, self.policy.region)
        self.config = self.policy.backup
        self.backup = deps.client("backup")
        self.validator = Validator(deps.client, self.config.sample_size, self.config.tolerance_percent)
        self.prefix = deps.policy.prefix
        self.guardrails = deps.repository(Guardrails)
        self.records = deps.repository(BackupLedger)
        self.restore_plan: Plan[Run] = Plan(execute=self._restore, report=lambda decision, result: Run([], [], [
            action_note("backup.test-restore", decision.request.target, result, decision.reason, decision=decision.id)]))

    def handle(self, event: Any) -> tuple[Run, list[Finding]]:
        if not isinstance(event, dict):
            raise MalformedEvent("not a backup verification trigger")
        run = self.dispatch(event)
        sent = FindingSink(self.deps).emit(run.findings)
        return run, sent

    def dispatch(self, event: dict[str, Any]) -> Run:
        if event.get("source") == "aws.backup":
            detail = event.get("detail")
            if not isinstance(detail, dict):
                raise MalformedEvent("aws.backup event without a detail object")
            if event.get("detail-type") == BACKUP_JOB_STATE_CHANGE:
                place = self.place_of(event)
                return self.on_backup_job(detail, place) if self.judges(place) else self.refused(event, place)
            if event.get("detail-type") == "Restore Job State Change":
                return self.on_restore_job(detail)
            return ignored(f"{event.get('detail-type')!r} is not a job this verifier judges")
        if event.get("source") == OPS_SOURCE and event.get("detail-type") == MEMBER_BACKUPS_DUE:
            detail = event.get("detail")
            return self.verify_member(str(detail.get("account") if isinstance(detail, dict) else None))
        task = event.get("task")
        if task == "verify":
            if event.get("resource") is not None:
                return self.verify(str(event["resource"]))
            run = self.verify()
            run.notes += self.request_members(str(event.get("at") or ""))
            return run
        if task == "cleanup":
            return self.cleanup(dry_run=bool(event.get("dry_run")))
        if task == "test-restore":
            return self.test_restore(str(event["resource"]), by=str(event.get("by") or "opsctl"),
                                     trigger=str(event.get("request") or event.get("at") or ""))
        if task == "restore-tests":
            return self.automated_restore_test(str(event.get("at") or ""))
        raise MalformedEvent(f"not a backup verification trigger: source={event.get('source')!r} task={task!r}")

    # --- freshness ------------------------------------------------------------------------------

    def client(self, service: str, place: Place) -> Any:
        """A client in `place`: the hub's own, or a member's through its spoke role (Unreachable
        when that cannot be assumed)."""
        return self.deps.client_in(service, place.account, place.region, session_name=VERIFY_SESSION)

    @staticmethod
    def place_of(event: dict[str, Any]) -> Place:
        """Where an AWS Backup event happened (EventBridge sets `account` from the account that
        emitted it; a member's spoke forwards it as it is)."""
        try:
            return Place(str(event["account"]), str(event["region"]))
        except KeyError as error:
            raise MalformedEvent(f"aws.backup event without its {error.args[0]}") from error

    def named(self, subject: str, place: Place) -> str:
        """A subject as the function's notes show it: a member's with its account and Region."""
        return subject if place == self.hub else f"{subject} in {self.organization.where(place.account, place.region)}"

    def judges(self, place: Place) -> bool:
        """The hub's own backups, and a watched member account × Region's: none other is ours."""
        return place == self.hub or self.organization.watches(place.account, place.region)

    def refused(self, event: dict[str, Any], place: Place) -> Run:
        """A job event of an account × Region not watched (an account joined an organizational unit
        but not the config): refused with the reason and counted with the hour's refused claims."""
        reason = ("not the hub's nor an account × Region of organization.accounts and .regions: "
                  "counted, not judged")
        subject = str((event.get("detail") or {}).get("resourceArn") or f"{place.account}/{place.region}")
        self.deps.repository(IncidentLedger).count_refused_claim(alarm_arn=subject, reason=reason,
                                                                 at=self.deps.clock.now())
        return Run([], [], [action_note("backup.job", self.organization.where(place.account, place.region),
                                        "rejected", reason)])

    def protected(self, only: str | None = None, place: Place | None = None) -> list[Protected]:
        """Every resource tagged with a backup class (or just `only`, if it is one): what should have
        backups, whether it has any."""
        tag_key = self.config.tag_key
        tagging = self.client("resourcegroupstaggingapi", place or self.hub)
        if only is not None:
            mappings = tagging.get_resources(ResourceARNList=[only])["ResourceTagMappingList"]
        else:
            mappings = [m for page in tagging.get_paginator("get_resources").paginate(
                TagFilters=[{"Key": tag_key}], ResourceTypeFilters=["s3", "dynamodb:table", "rds:db"])
                for m in page["ResourceTagMappingList"]]
        found = []
        for mapping in mappings:
            tags = {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
            if tag_key not in tags:
                continue
            backup_class = self.config.classes.get(tags[tag_key])
            rpo = tags.get(self.config.rpo_tag_key)
            found.append(Protected(
                arn=mapping["ResourceARN"], backup_class=tags[tag_key],
                rpo_minutes=int(rpo) if rpo and rpo.isdigit() else backup_class.rpo_minutes if backup_class else 0,
                rto_tier=tags.get(self.config.rto_tag_key) or (backup_class.rto_tier if backup_class else "full")))
        return sorted(found, key=lambda resource: resource.arn)

    def recovery_points(self, listing: str, place: Place | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of one of AWS Backup's recovery-point listings (it pages with NextToken)."""
        backup = self.client("backup", place or self.hub)
        while True:
            page = getattr(backup, listing)(**kwargs)
            yield from page.get("RecoveryPoints", [])
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    def newest_point(self, arn: str, place: Place) -> datetime | None:
        """Creation time of the newest COMPLETED recovery point (the moment its data is from)."""
        return max((p["CreationDate"] for p in self.recovery_points("list_recovery_points_by_resource", place,
                                                                    ResourceArn=arn)
                    if p.get("Status") == "COMPLETED"), default=None)

    def freshness(self, resource: Protected, now: datetime, place: Place) -> tuple[Finding, float | None]:
        at = isoformat(now)
        if resource.backup_class not in self.config.classes:
            return place.finding("freshness", resource.arn, "ALARM", f"unknown backup class {resource.backup_class!r} "
                                 f"(known: {', '.join(self.config.classes)}): it is backed up by no plan", at), None
        newest = self.newest_point(resource.arn, place)
        if newest is None:
            return place.finding("freshness", resource.arn, "ALARM", f"no completed recovery point at all "
                                 f"(class {resource.backup_class}, RPO {resource.rpo_minutes} min)", at), None
        age = (now - newest).total_seconds() / 60
        fresh = age <= resource.rpo_minutes
        reason = (f"newest recovery point {isoformat(newest)} is {age:.0f} min old; RPO {resource.rpo_minutes} min "
                  f"(class {resource.backup_class})")
        return place.finding("freshness", resource.arn, "OK" if fresh else "ALARM", reason, at), age

    def verify(self, only: str | None = None, place: Place | None = None) -> Run:
        place = place or self.hub
        now = self.deps.clock.now()
        at = isoformat(now)
        run = Run([], [], [])
        try:
            resources = self.protected(only, place)
        except (*API_ERRORS, Unreachable) as error:
            retry_if_transient(error)
            run.findings.append(place.finding("blind-spot", "protected-resources", "ALARM",
                                              f"cannot list protected resources: {error}", at))
            return run
        if only is None and not resources:
            # The hub's application must have data to protect; a member account × Region may hold
            # nothing worth backing up (its application team tags what is).
            run.findings.append(place.finding(
                "blind-spot", "protected-resources", "ALARM" if place == self.hub else "OK",
                f"no resource carries the {self.config.tag_key} tag: nothing is verified, so nothing is known to be "
                "backed up" if place == self.hub else f"nothing here carries the {self.config.tag_key} tag", at))
        elif only is None:
            run.findings.append(place.finding("blind-spot", "protected-resources", "OK",
                                              f"{len(resources)} protected resources", at))
        for resource in resources:
            try:
                finding, age = self.freshness(resource, now, place)
            except (*API_ERRORS, Unreachable) as error:
                retry_if_transient(error)
                finding, age = place.finding("freshness", resource.arn, "ALARM",
                                             f"cannot list its recovery points ({error}): freshness unknown", at), None
            run.findings.append(finding)
            # The hub's resources only: one series per member resource would be thousands of metrics
            # (and dollars) a month at organization scale; their findings say the same.
            if age is not None and place == self.hub:
                run.metrics.append(("BackupAgeMinutes", round(age, 1), "Count",
                                    {"Resource": name_of(resource.arn), "BackupClass": resource.backup_class}))
            run.notes.append(action_note("backup.freshness", self.named(resource.arn, place),
                                         finding.state, finding.reason))
        if only is None:
            run.findings += self.retention(now, place)
        if only is None and place == self.hub:
            # The latest full verification is what the reports quote; a one-resource re-check is not.
            self._record_status(run, now)
        return run

    def request_members(self, scheduled_at: str) -> list[dict[str, Any]]:
        """The hourly verification's fan-out: one "Member Backups Due" per member account, each its
        own invocation (every Region of the account), so 500 accounts are 500 short runs."""
        accounts = list(self.organization.accounts)
        self.deps.put_on_ops_bus([{
            "Source": OPS_SOURCE, "DetailType": MEMBER_BACKUPS_DUE, "EventBusName": self.deps.settings.ops_bus_name,
            "Detail": json.dumps({"account": account, "scheduled_at": scheduled_at})} for account in accounts],
            "member backup verifications")
        return [action_note("backup.members", f"{len(accounts)} member accounts", "requested",
                            "one verification each, in every watched Region")] if accounts else []

    def verify_member(self, account: str) -> Run:
        """A member account's backups in every watched Region: its spoke's vault and plan, the
        resources tagged there (findings as virtual alarms in that account and Region)."""
        if account not in self.organization.accounts:
            raise MalformedEvent(f"{account!r} is not an account of organization.accounts: not ours to verify")
        run = Run([], [], [])
        for region in self.organization.regions:
            run.add(self.verify(place=Place(account, region)))
        return run

    def _record_status(self, run: Run, now: datetime) -> None:
        """The latest verification, for the daily report's backup line."""
        failing = [f for f in run.findings if f.state == "ALARM"]
        checked = sum(1 for f in run.findings if f.check == "freshness")
        summary = (f"{checked} resources checked at {isoformat(now)[:16]}Z: "
                   + (f"{len(failing)} failing ({', '.join(sorted({f.check for f in failing}))})" if failing
                      else "all fresh, retention as configured"))
        self.records.write_status({
            "checked_at": isoformat(now), "summary": summary,
            "failing": [{"check": f.check, "subject": f.subject, "reason": f.reason} for f in failing[:50]]})

    # --- retention ------------------------------------------------------------------------------

    def retention(self, now: datetime, place: Place) -> list[Finding]:
        """The backup plan's rules keep what the runbook says, and (the hub's own) the configuration
        bucket's versions and the log groups."""
        at = isoformat(now)
        findings = []
        backup = self.client("backup", place)
        try:
            rules = {rule["RuleName"]: rule for plan in backup.list_backup_plans()["BackupPlansList"]
                     for rule in backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]["Rules"]}
        except (*API_ERRORS, Unreachable) as error:
            retry_if_transient(error)
            return [place.finding("retention", "backup-plans", "ALARM", f"cannot read the backup plans: {error}", at)]
        for name, spec in self.config.classes.items():
            rule = rules.get(name)
            days = ((rule or {}).get("Lifecycle") or {}).get("DeleteAfterDays")
            ok = rule is not None and days == spec.retention_days
            reason = (f"rule {name} keeps recovery points {days} days (runbook: {spec.retention_days})" if rule
                      else f"no backup plan rule named {name}")
            findings.append(place.finding("retention", f"backup-rule:{name}", "OK" if ok else "ALARM", reason, at))
        if place == self.hub:
            findings.append(self._configuration_retention(at))
            findings.append(self._log_retention(at))
        return findings

    def _configuration_retention(self, at: str) -> Finding:
        spec = self.config.configuration
        s3 = self.deps.client("s3")
        subject = f"arn:aws:s3:::{spec.bucket}"
        try:
            versioning = s3.get_bucket_versioning(Bucket=spec.bucket).get("Status")
            rules = s3.get_bucket_lifecycle_configuration(Bucket=spec.bucket).get("Rules", [])
        except API_ERRORS as error:
            retry_if_transient(error)
            return Finding("retention", subject, "ALARM", f"cannot read versioning and lifecycle: {error}", at)
        kept = [r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") for r in rules if r.get("Status") == "Enabled"]
        ok = versioning == "Enabled" and spec.retention_days in kept
        return Finding("retention", subject, "OK" if ok else "ALARM",
                       f"versioning {versioning or 'off'}; noncurrent versions kept {kept or 'forever'} days "
                       f"(runbook: {spec.retention_days})", at)

    def _log_retention(self, at: str) -> Finding:
        spec = self.config.logs
        logs = self.deps.client("logs")
        subject = f"logs:{spec.log_group_prefix}"
        try:
            groups = [g for page in logs.get_paginator("describe_log_groups").paginate(
                logGroupNamePrefix=spec.log_group_prefix) for g in page["logGroups"]]
        except API_ERRORS as error:
            retry_if_transient(error)
            return Finding("retention", subject, "ALARM", f"cannot list log groups: {error}", at)
        wrong = sorted(g["logGroupName"] for g in groups if g.get("retentionInDays") != spec.retention_days)
        if not groups:
            return Finding("retention", subject, "ALARM", "no log groups found: their retention is unknown", at)
        return Finding("retention", subject, "ALARM" if wrong else "OK",
                       f"{len(groups)} log groups; not kept {spec.retention_days} days: {', '.join(wrong[:10]) or 'none'}",
                       at)

    # --- jobs -----------------------------------------------------------------------------------

    def on_backup_job(self, detail: dict[str, Any], place: Place) -> Run:
        arn, state = detail.get("resourceArn"), detail.get("state")
        at = isoformat(self.deps.clock.now())
        if not arn:
            # AWS sends CREATED with only the job id, state and creation date: nothing to judge yet.
            return ignored(f"backup job {detail.get('backupJobId')} {state or 'without a state'} names no resource")
        arn = str(arn)
        if state in FAILED_JOB_STATES:
            reason = f"backup job {detail.get('backupJobId')} {state}: {detail.get('statusMessage') or 'no reason given'}"
            return Run([place.finding("job", arn, "ALARM", reason, at)], [],
                       [action_note("backup.job", self.named(arn, place), state, reason)])
        if state == "COMPLETED":
            # A fresh point: the job is fine again and its resource may be fresh again, now.
            run = self.verify(arn, place)
            run.findings.append(place.finding("job", arn, "OK", f"backup job {detail.get('backupJobId')} completed", at))
            return run
        return ignored(f"backup job {detail.get('backupJobId')} is {state}: nothing to judge until it ends")

    # --- restores -------------------------------------------------------------------------------

    def on_restore_job(self, detail: dict[str, Any]) -> Run:
        job_id, status = detail.get("restoreJobId"), detail.get("status")
        if not job_id:
            raise MalformedEvent("Restore Job State Change without restoreJobId")
        if status not in ("COMPLETED", "FAILED", "ABORTED"):
            return ignored(f"restore job {job_id} is {status}: nothing to judge until it ends")
        job = self.restore_job(str(job_id), detail)
        if not self.is_ours(job):
            return ignored(f"restore job {job_id} was started neither by our restore tests nor by our restore-testing "
                           "plan: someone else's restore, not ours to judge or clean up")
        if status == "COMPLETED":
            return self.validate_restore(job)
        source = job.get("SourceResourceArn") or job.get("RecoveryPointArn") or f"restore-job:{job_id}"
        reason = f"restore job {job_id} {status}: {job.get('StatusMessage') or 'no reason given'}"
        return Run([Finding("restore", source, "ALARM", reason, isoformat(self.deps.clock.now()))],
                   [], [action_note("backup.restore", source, status, reason)])

    def restore_job(self, job_id: str, detail: dict[str, Any]) -> dict[str, Any]:
        """The job as DescribeRestoreJob shows it; where AWS Backup no longer knows it, what its
        state-change event said (the event carries the same fields in camelCase)."""
        try:
            return dict(self.backup.describe_restore_job(RestoreJobId=job_id))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        job: dict[str, Any] = {"RestoreJobId": job_id}
        for key, value in detail.items():
            if key in ("creationDate", "completionDate") and isinstance(value, str):
                job[key[0].upper() + key[1:]] = parse_timestamp(value)
            elif isinstance(value, str):
                job[key[0].upper() + key[1:]] = value
        return job

    def is_ours(self, job: dict[str, Any]) -> bool:
        """Started by our restore tests (the ledger holds it) or by our restore-testing plan."""
        plan = str((job.get("CreatedBy") or {}).get("RestoreTestingPlanArn") or "")
        if f":restore-testing-plan:{restore_testing_plan_name(self.prefix)}" in plan:
            return True
        return self.records.started_by_us(job["RestoreJobId"])

    def validate_restore(self, job: dict[str, Any]) -> Run:
        job_id = str(job["RestoreJobId"])
        now = self.deps.clock.now()
        at = isoformat(now)
        source, restored, kind = job.get("SourceResourceArn") or "", job.get("CreatedResourceArn") or "", job.get("ResourceType")
        if not (source and restored and kind):
            reason = (f"restore job {job_id} completed but neither AWS Backup nor its event names its source, copy "
                      "and resource type: its content cannot be checked")
            subject = source or str(job.get("RecoveryPointArn") or f"restore-job:{job_id}")
            return Run([Finding("restore", subject, "ALARM", reason, isoformat(now))], [],
                       [action_note("backup.restore", subject, "failed", reason)])
        run = Run([], [], [])
        try:
            verdict = self.validator.validate(kind, source, restored)
        except API_ERRORS as error:
            retry_if_transient(error)
            verdict = None
            message = f"could not compare the restore with its source: {error}"
        finally:
            # Always: a test copy left behind costs money and may hold production data. Only a copy
            # named as our restore tests name theirs, though: a restore someone made on purpose is theirs.
            if not name_of(restored).startswith(restore_copy_prefix(self.prefix)):
                # AWS Backup deletes its own restore-testing copies at the end of their validation window.
                cleaned = f"restored resource kept: {name_of(restored)} is not a copy our restore tests made"
            else:
                try:
                    self.validator.cleanup(kind, restored)
                    cleaned = "restored copy deleted"
                except API_ERRORS as error:
                    retry_if_transient(error)
                    cleaned = f"restored copy NOT deleted: {error}"
        ok = verdict is not None and verdict.ok
        message = verdict.message if verdict is not None else message
        if ok:
            self.records.restore_validated(source, {"validated_at": at, "restore_job": job_id, "message": message})
        try:
            self.backup.put_restore_validation_result(RestoreJobId=job_id, ValidationStatus="SUCCESSFUL" if ok else "FAILED",
                                                      ValidationStatusMessage=message[:1000])
        except ClientError as error:
            # AWS Backup takes validation results for restore-testing jobs; for others (and jobs it no
            # longer knows) our finding and decision record are the only record, which is enough.
            cleaned += f"; validation result not recorded in AWS Backup ({error.response['Error']['Code']})"
        run.findings.append(Finding("restore", source, "OK" if ok else "ALARM", f"restore job {job_id}: {message}", at))
        if verdict is not None and (ok or verdict.data_loss):
            # The copy's content was compared with its source: whether the backups hold the data.
            run.findings.append(Finding("integrity", source, "ALARM" if verdict.data_loss else "OK",
                                        f"restore job {job_id}: {message}", at))
        duration = (job["CompletionDate"] - job["CreationDate"]).total_seconds() if job.get("CompletionDate") else None
        if duration is not None:
            tier = self._rto_tier(source)
            limit = self.config.rto_minutes[tier]
            within = duration <= limit * 60
            run.findings.append(Finding("rto", source, "OK" if within else "ALARM",
                                        f"restore took {duration / 60:.0f} min; RTO ({tier}) {limit} min", at))
            run.metrics.append(("RestoreDurationSeconds", duration, "Seconds", {"ResourceType": kind}))
        run.notes.append(action_note("backup.restore", source, "validated" if ok else "failed", f"{message}; {cleaned}"))
        return run

    def _rto_tier(self, arn: str) -> str:
        try:
            tiers = [resource.rto_tier for resource in self.protected(arn)]
        except API_ERRORS:
            tiers = []
        return tiers[0] if tiers and tiers[0] in self.config.rto_minutes else "full"

    def automated_restore_test(self, scheduled_at: str) -> Run:
        """One restore test a run, of the critical resource whose last validated restore is oldest,
        when that is older than `critical_every_days` (never tested counts as oldest)."""
        now = self.deps.clock.now()
        critical = [r for r in self.protected() if r.rto_tier == "critical"]
        last = self.records.last_validated(r.arn for r in critical)
        cutoff = isoformat(now - timedelta(days=self.config.restore_testing.critical_every_days))
        due = sorted((last.get(r.arn, ""), r.arn) for r in critical if last.get(r.arn, "") < cutoff)
        if not due:
            reason = (f"every critical resource ({len(critical)}) has a validated restore since {cutoff[:10]}" if critical
                      else "no protected resource is in the critical RTO tier")
            return Run([], [], [action_note("backup.test-restore", "critical resources", "not due", reason)])
        return self.test_restore(due[0][1], by=None, trigger=scheduled_at)

    def test_restore(self, arn: str, *, by: str | None, trigger: str) -> Run:
        """Restore the newest recovery point into a copy named for the test, through the guardrails;
        its completion event validates and deletes it. `by` names the human (None: automation).

        Once per trigger (the schedule's time, the human's request): the decision is recorded before
        the job starts, and the job starts with the decision as its idempotency token, so a retry
        after a crash anywhere finds the decision and gets AWS Backup's same job, never a second restore."""
        now = self.deps.clock.now()
        request = ActionRequest(
            capability="restore_test", action="backup.test-restore", target=arn,
            trigger={"kind": "opsctl" if by else "restore-tests", "by": by},
            trigger_id=f"{by or 'schedule'}|{trigger or isoformat(now)}",
            event_time=now, decided_by=f"human:{by}" if by else "automation", toggles=False, cooldown=by is None,
            scope={"alarm": check_alarm_name(self.prefix, "restore", arn), "component": BACKUP_COMPONENT})
        return self.guardrails.act(request, self.restore_plan, {})

    def _restore(self, decision: Decision, intended: dict[str, Any], resumed: bool) -> Run:
        """Start the restore job (again, after a crash: the decision is its idempotency token, so AWS
        Backup answers with the same job) and record it as executed."""
        arn = decision.request.target
        job, point, copy = self._start_restore(arn, token=decision.id, at=parse_timestamp(decision.decided_at))
        self.guardrails.record(decision, "executed", {"restore_job": job, "recovery_point": point, "copy": copy},
                               intended=True)
        return Run([], [], [action_note("backup.test-restore", arn, "executed", f"restore job {job} of {point} into {copy}",
                                        decision=decision.id, restore_job=job)])

    def _start_restore(self, arn: str, *, token: str, at: datetime) -> tuple[str, str, str]:
        vault = self.config.vault_name
        points = [p for p in self.recovery_points("list_recovery_points_by_resource", ResourceArn=arn)
                  if p.get("Status") == "COMPLETED" and p.get("BackupVaultName") == vault]
        if not points:
            raise MalformedEvent(f"{arn} has no completed recovery point in our vault {vault} to restore")
        point = max(points, key=lambda p: p["CreationDate"])
        metadata = self.backup.get_recovery_point_restore_metadata(
            BackupVaultName=point["BackupVaultName"], RecoveryPointArn=point["RecoveryPointArn"])["RestoreMetadata"]
        # Our prefix first: the role may delete these, and no one else's (restore_copy_prefix).
        copy = f"{restore_copy_prefix(self.prefix)}{name_of(arn).removeprefix(self.prefix + '-')}"[:50].rstrip("-").lower()
        copy = f"{copy}-{at:%Y%m%d%H%M}"  # the decision's time: the same name on a retry
        kind = resource_type_of(arn)
        if kind not in COPY_METADATA:
            raise MalformedEvent(f"{arn}: no restore test for resource type {kind}")
        copy_key, extra = COPY_METADATA[kind]
        metadata |= {copy_key: copy, **extra}
        role = f"arn:aws:iam::{self.policy.account}:role/{self.prefix}-backup"
        job = self.backup.start_restore_job(RecoveryPointArn=point["RecoveryPointArn"], Metadata=metadata, IamRoleArn=role,
                                            ResourceType=kind, IdempotencyToken=token)
        # Its completion event is validated (and its copy deleted) because this says it is ours.
        self.records.restore_started(job["RestoreJobId"],
                                     {"resource": arn, "copy": copy, "started_at": isoformat(self.deps.clock.now())})
        return str(job["RestoreJobId"]), str(point["RecoveryPointArn"]), copy

    # --- cleanup --------------------------------------------------------------------------------

    def cleanup(self, *, dry_run: bool) -> Run:
        at = isoformat(self.deps.clock.now())
        vault = self.config.vault_name
        try:
            points = list(self.recovery_points("list_recovery_points_by_backup_vault", BackupVaultName=vault))
        except API_ERRORS as error:
            retry_if_transient(error)
            return Run([Finding("blind-spot", f"vault:{vault}", "ALARM", f"cannot list recovery points: {error}", at)], [], [])
        orphans = [p for p in points if not self._exists(p["ResourceArn"], p.get("ResourceType", ""))]
        limit = self.config.cleanup.max_deletions_per_run
        deleting = orphans[:limit] if self.config.cleanup.delete_orphans and not dry_run else []
        for point in deleting:
            self.backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])
        left = len(orphans) - len(deleting)
        reason = (f"{len(orphans)} recovery points of resources that no longer exist; deleted {len(deleting)}"
                  + (f" (at most {limit} per run)" if len(orphans) > limit and deleting else "")
                  + ("" if self.config.cleanup.delete_orphans else " (deletion off in config: reported only)")
                  + (" (dry run)" if dry_run else ""))
        notes = [action_note("backup.cleanup", p["RecoveryPointArn"], "deleted" if p in deleting else "kept", p["ResourceArn"])
                 for p in orphans]
        return Run([Finding("orphans", f"vault:{vault}", "ALARM" if left else "OK", reason, at)], [], notes)

    def _exists(self, arn: str, resource_type: str) -> bool:
        name = name_of(arn)
        try:
            if resource_type == "S3" or arn.startswith("arn:aws:s3:"):
                if not name.startswith(f"{self.deps.policy.app}-"):
                    return True  # outside the application's buckets, which are all we may look at
                self.deps.client("s3").head_bucket(Bucket=name)
            elif resource_type == "DynamoDB" or ":dynamodb:" in arn:
                self.deps.client("dynamodb").describe_table(TableName=name)
            elif resource_type == "RDS" or ":rds:" in arn:
                self.deps.client("rds").describe_db_instances(DBInstanceIdentifier=name)
            else:
                return True  # a type we cannot look up is never called an orphan
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("404", "NoSuchBucket", "ResourceNotFoundException", "DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return False
            if code in ("403", "AccessDenied", "AccessDeniedException"):
                return True  # not ours to look at: never called an orphan, never deleted
            raise
        return True


def ignored(reason: str) -> Run:
    """An AWS Backup event with nothing to judge: a note with the reason, no finding, no failure."""
    return Run([], [], [action_note("backup.event", "-", "ignored", reason)])
