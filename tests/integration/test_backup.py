"""Backup verification: AWS Backup through botocore's Stubber with AWS-shaped responses (moto has no
jobs, recovery points or restores); S3, DynamoDB, RDS, tagging and the ledger in moto. Findings go
through the ops bus to triage, so the assertions are incidents and pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from controlplane.events import BACKUP_CHECK
from controlplane.ledger import from_item
from faults import LambdaDied, crash_after
from opsctl import lambda_host

NOW = datetime(2026, 11, 24, 19, 15, tzinfo=timezone.utc)
PREFIX = "financeanalyst-pro-demo"
DATA = f"arn:aws:s3:::{PREFIX}-data"  # class full: RPO 1500 min
ORDERS = f"arn:aws:dynamodb:us-east-1:123456789012:table/{PREFIX}-orders"  # class database: RPO 420 min
VAULT = f"{PREFIX}-backups"
COPY = f"{PREFIX}-restore-test-"  # how our restore tests name their copies (the only ones the role may delete)
OUR_PLAN = {"RestoreTestingPlanArn": "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:"
                                    "financeanalyst_pro_demo_restore_tests-8c1d2b"}


def point(resource: str, created: datetime, status: str = "COMPLETED", ident: str = "1") -> dict[str, Any]:
    return {"RecoveryPointArn": f"arn:aws:backup:us-east-1:123456789012:recovery-point:{ident}", "CreationDate": created,
            "Status": status, "BackupVaultName": VAULT, "ResourceName": resource.rsplit(":", 1)[-1]}


class Backups:
    """The verifier's container with a stubbed AWS Backup client; findings relayed to triage."""

    def __init__(self, harness) -> None:
        self.harness = harness
        self.deps = harness.world.dependencies("backup_verify", harness.clock)
        self.client = boto3.session.Session(region_name="us-east-1").client("backup")
        self.deps._clients["backup"] = self.client
        self.stub = Stubber(self.client)
        self.stub.activate()

    def points(self, resource: str, *points: dict[str, Any]) -> None:
        self.stub.add_response("list_recovery_points_by_resource", {"RecoveryPoints": list(points)},
                               {"ResourceArn": resource})

    def plans(self, full_days: int = 30, database_days: int = 7) -> None:
        self.stub.add_response("list_backup_plans", {"BackupPlansList": [{"BackupPlanId": "plan-1",
                                                                           "BackupPlanName": f"{PREFIX}-backups"}]})
        self.stub.add_response("get_backup_plan", {"BackupPlanId": "plan-1", "BackupPlan": {
            "BackupPlanName": f"{PREFIX}-backups", "Rules": [
                {"RuleName": "full", "TargetBackupVaultName": VAULT, "Lifecycle": {"DeleteAfterDays": full_days}},
                {"RuleName": "database", "TargetBackupVaultName": VAULT, "Lifecycle": {"DeleteAfterDays": database_days}}]}},
            {"BackupPlanId": "plan-1"})

    def run(self, event: dict[str, Any], at: datetime = NOW) -> dict[str, Any]:
        self.harness.clock.set(at)
        result = lambda_host.invoke("backup_verify", event, self.deps)
        self.stub.assert_no_pending_responses()
        for ops_event in self.harness.ops_events():
            if ops_event["detail-type"] == BACKUP_CHECK:
                self.harness.triage(ops_event, at)
        return result

    def verify(self, data_age: timedelta | None = timedelta(hours=17), orders_age: timedelta | None = timedelta(hours=1),
               at: datetime = NOW) -> dict[str, Any]:
        # Resources are checked in ARN order: the DynamoDB table, then the bucket.
        self.points(ORDERS, *([point(ORDERS, at - orders_age, ident="2")] if orders_age is not None else []))
        self.points(DATA, *([point(DATA, at - data_age)] if data_age is not None else []))
        self.plans()
        return self.run({"task": "verify", "at": at.isoformat()}, at)

    def decisions(self) -> list[dict[str, Any]]:
        rows = self.harness.world.client("dynamodb").scan(TableName=self.harness.world.settings.ledger_table)["Items"]
        return [from_item(r) for r in rows if r["pk"]["S"].startswith("DECISION#")]

    def findings(self, result: dict[str, Any], check: str) -> dict[str, str]:
        return {f["subject"]: f["state"] for f in result["findings"] if f["check"] == check}


@pytest.fixture
def backups(harness) -> Backups:
    return Backups(harness)


def job(ident: str, state: str, **detail: str) -> dict[str, Any]:
    """A "Backup Job State Change" of the orders table, in the envelope AWS puts it in (its account
    and Region say whose backup it was)."""
    return {"source": "aws.backup", "detail-type": "Backup Job State Change", "account": "123456789012",
            "region": "us-east-1", "detail": {"backupJobId": ident, "resourceArn": ORDERS, "resourceType": "DynamoDB",
                                              "state": state, **detail}}


def incidents(harness) -> list[tuple[str, str, str]]:
    """The findings' incidents (not the storm parent grouping several findings of one run)."""
    return [(i["alarm_name"].removeprefix(f"{PREFIX}-backup-"), i["severity"], i["status"])
            for i in harness.incidents() if i.get("kind") != "storm"]


def test_fresh_backups_raise_nothing(backups, harness) -> None:
    result = backups.verify()
    assert backups.findings(result, "freshness") == {DATA: "OK", ORDERS: "OK"}
    assert set(backups.findings(result, "retention").values()) == {"OK"}
    assert result["sent"] == [] and harness.incidents() == []  # OK with nothing open: no event at all


def test_a_stale_backup_opens_a_p1_that_resolves_when_a_fresh_point_appears(backups, harness) -> None:
    result = backups.verify(orders_age=timedelta(hours=7, minutes=15))
    [stale] = [f for f in result["findings"] if f["state"] == "ALARM"]
    assert stale["reason"].startswith("newest recovery point 2026-11-24T12:00:00.000Z is 435 min old; RPO 420 min")
    assert incidents(harness) == [("freshness-dynamodb-table-financeanalyst-pro-demo-orders", "P1", "OPEN")]
    [page] = harness.notifications("P1")
    assert "backup-freshness" in page["Subject"]
    # An hour later it is still stale: no second event, no second page.
    assert backups.verify(orders_age=timedelta(hours=8, minutes=15), at=NOW + timedelta(hours=1))["sent"] == []
    assert harness.notifications("P1") == []
    # A backup completes: the job event re-checks that resource at once.
    backups.points(ORDERS, point(ORDERS, NOW + timedelta(hours=1, minutes=30), ident="3"))
    backups.run(job("J-3", "COMPLETED"), NOW + timedelta(hours=1, minutes=35))
    assert incidents(harness) == [("freshness-dynamodb-table-financeanalyst-pro-demo-orders", "P1", "RESOLVED")]


@pytest.mark.parametrize(("age", "state"), [(timedelta(minutes=420), "OK"), (timedelta(minutes=420, seconds=1), "ALARM")])
def test_the_rpo_edge(backups, age: timedelta, state: str) -> None:
    assert backups.findings(backups.verify(orders_age=age), "freshness")[ORDERS] == state


def test_a_resource_tag_tightens_the_rpo(backups, harness) -> None:
    harness.world.client("dynamodb").tag_resource(ResourceArn=ORDERS, Tags=[{"Key": "backup-rpo-minutes", "Value": "60"}])
    result = backups.verify(orders_age=timedelta(minutes=61))
    assert "RPO 60 min" in next(f["reason"] for f in result["findings"] if f["subject"] == ORDERS)
    assert backups.findings(result, "freshness")[ORDERS] == "ALARM"


def test_no_recovery_point_at_all_and_failed_points_do_not_count(backups, harness) -> None:
    backups.points(ORDERS)
    backups.points(DATA, point(DATA, NOW - timedelta(hours=1), status="PARTIAL"))
    backups.plans()
    result = backups.run({"task": "verify"})
    assert backups.findings(result, "freshness") == {DATA: "ALARM", ORDERS: "ALARM"}
    assert all("no completed recovery point at all" in f["reason"] for f in result["findings"] if f["check"] == "freshness")
    assert [s for _, s, _ in incidents(harness)] == ["P1", "P1"]
    # Found by one run, on one component: one storm parent pages for the second (the first paged alone).
    [parent] = [i for i in harness.incidents() if i.get("kind") == "storm"]
    assert (parent["component"], parent["open_children"]) == ("Backups", 2)


def test_a_failed_job_opens_an_incident_with_its_reason_and_the_next_success_resolves_it(backups, harness) -> None:
    backups.run(job("J-1", "FAILED", statusMessage="Insufficient privileges to perform this action."))
    [incident] = harness.incidents()
    assert (incident["severity"], incident["status"]) == ("P2", "OPEN")
    assert "J-1 FAILED: Insufficient privileges" in incident["reason"]
    backups.points(ORDERS, point(ORDERS, NOW + timedelta(minutes=30)))
    backups.run(job("J-2", "COMPLETED"), NOW + timedelta(minutes=35))
    assert [i["status"] for i in harness.incidents()] == ["RESOLVED"]


def test_an_api_error_is_a_blind_spot_never_all_good(backups, harness) -> None:
    backups.points(ORDERS, point(ORDERS, NOW - timedelta(hours=1)))
    backups.stub.add_client_error("list_recovery_points_by_resource", "AccessDeniedException", "not authorized")
    backups.plans()
    result = backups.run({"task": "verify"})
    data = next(f for f in result["findings"] if f["subject"] == DATA)
    assert data["state"] == "ALARM" and "freshness unknown" in data["reason"]
    assert len(harness.incidents()) == 1


def test_a_throttle_is_retried_not_a_blind_spot(backups, harness) -> None:
    """Throttling that outlasted the SDK's retries fails the run, for Lambda to retry it (then its
    dead-letter queue): a blind-spot incident would page for a moment's congestion."""
    backups.points(ORDERS, point(ORDERS, NOW - timedelta(hours=1)))
    backups.stub.add_client_error("list_recovery_points_by_resource", "ThrottlingException", "Rate exceeded")
    backups.plans()
    with pytest.raises(ClientError, match="ThrottlingException"):
        backups.run({"task": "verify"})
    assert harness.incidents() == []


def test_no_tagged_resource_at_all_is_a_blind_spot(backups, harness) -> None:
    for arn in (DATA, ORDERS):
        harness.world.client("resourcegroupstaggingapi").untag_resources(ResourceARNList=[arn], TagKeys=["backup-class"])
    backups.plans()
    result = backups.run({"task": "verify"})
    [blind] = [f for f in result["findings"] if f["check"] == "blind-spot"]
    assert blind["state"] == "ALARM" and "nothing is known to be backed up" in blind["reason"]
    assert incidents(harness) == [("blind-spot-protected-resources", "P2", "OPEN")]


def test_retention_that_drifted_from_the_runbook_is_an_incident(backups, harness) -> None:
    backups.points(ORDERS, point(ORDERS, NOW - timedelta(hours=1)))
    backups.points(DATA, point(DATA, NOW - timedelta(hours=1)))
    backups.plans(database_days=3)
    harness.world.client("logs").put_retention_policy(logGroupName=f"/aws/lambda/{PREFIX}-triage", retentionInDays=7)
    result = backups.run({"task": "verify"})
    assert backups.findings(result, "retention") == {"backup-rule:full": "OK", "backup-rule:database": "ALARM",
                                                     f"arn:aws:s3:::{PREFIX}-config": "OK",
                                                     f"logs:/aws/lambda/{PREFIX}-": "ALARM"}
    assert sorted(a for a, _, _ in incidents(harness)) == [
        "retention-backup-rule-database", f"retention-logs-aws-lambda-{PREFIX}"]


# --- restores --------------------------------------------------------------------------------------

def restore_job(backups, source: str, created: str, kind: str, minutes: int, job: str = "R-1") -> None:
    backups.stub.add_response("describe_restore_job", {
        "RestoreJobId": job, "SourceResourceArn": source, "CreatedResourceArn": created, "ResourceType": kind,
        "RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:1", "Status": "COMPLETED",
        "CreationDate": NOW - timedelta(minutes=minutes), "CompletionDate": NOW, "CreatedBy": OUR_PLAN},
        {"RestoreJobId": job})


def restored_event(job: str = "R-1") -> dict[str, Any]:
    return {"source": "aws.backup", "detail-type": "Restore Job State Change",
            "detail": {"restoreJobId": job, "status": "COMPLETED"}}


def fill_bucket(harness, bucket: str, objects: dict[str, bytes], create: bool = True) -> None:
    s3 = harness.world.client("s3")
    if create:
        s3.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_an_s3_restore_that_matches_passes_is_reported_and_deleted(backups, harness) -> None:
    objects = {f"reports/{n}.json": f"{{\"n\": {n}}}".encode() for n in range(30)}
    fill_bucket(harness, f"{PREFIX}-data", objects, create=False)
    copy = f"{COPY}data-1"
    fill_bucket(harness, copy, objects)
    restore_job(backups, DATA, f"arn:aws:s3:::{copy}", "S3", minutes=50)
    backups.stub.add_response("put_restore_validation_result", {}, {
        "RestoreJobId": "R-1", "ValidationStatus": "SUCCESSFUL", "ValidationStatusMessage": ANY})
    result = backups.run(restored_event())
    assert backups.findings(result, "restore") == {DATA: "OK"} and backups.findings(result, "rto") == {DATA: "OK"}
    assert backups.findings(result, "integrity") == {DATA: "OK"}  # what resolves a Data Loss incident
    [note] = result["checks"]
    assert note["reason"] == "30 objects (source 30); 20/20 sampled checksums match; restored copy deleted"
    assert copy not in [b["Name"] for b in harness.world.client("s3").list_buckets()["Buckets"]]


def test_a_dynamodb_restore_missing_items_fails_and_is_still_deleted(backups, harness) -> None:
    dynamodb = harness.world.client("dynamodb")
    copy = f"{COPY}orders-1"
    dynamodb.create_table(TableName=copy, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    for n in range(40):
        dynamodb.put_item(TableName=f"{PREFIX}-orders", Item={"id": {"S": f"o-{n}"}, "total": {"N": str(n)}})
    for n in range(10):  # the restore lost three quarters of the table
        dynamodb.put_item(TableName=copy, Item={"id": {"S": f"o-{n}"}, "total": {"N": str(n)}})
    restore_job(backups, ORDERS, f"arn:aws:dynamodb:us-east-1:123456789012:table/{copy}", "DynamoDB", minutes=20)
    backups.stub.add_response("put_restore_validation_result", {}, {
        "RestoreJobId": "R-1", "ValidationStatus": "FAILED", "ValidationStatusMessage": "item count 10 vs source 40 "
                                                                                        "(tolerance 5.0 %)"})
    result = backups.run(restored_event())
    assert backups.findings(result, "restore") == {ORDERS: "ALARM"}
    assert copy not in dynamodb.list_tables()["TableNames"]
    # The backup does not hold the table's data: the runbook's Data Loss (P0), besides the failed restore.
    assert backups.findings(result, "integrity") == {ORDERS: "ALARM"}
    assert sorted(incidents(harness)) == [("integrity-dynamodb-table-financeanalyst-pro-demo-orders", "P0", "OPEN"),
                                          ("restore-dynamodb-table-financeanalyst-pro-demo-orders", "P1", "OPEN")]
    [loss] = [i for i in harness.incidents() if i["alarm_name"].startswith(f"{PREFIX}-backup-integrity-")]
    assert loss["impact"] == (f"Data Loss: a restore of {ORDERS} does not hold its source's data")


def test_a_restore_slower_than_its_rto_is_an_incident(backups, harness) -> None:
    fill_bucket(harness, f"{PREFIX}-data", {"a": b"1"}, create=False)
    copy = f"{COPY}data-2"
    fill_bucket(harness, copy, {"a": b"1"})
    # class full → tier full (24 h); tagged critical → 1 h.
    harness.world.client("resourcegroupstaggingapi").tag_resources(ResourceARNList=[DATA], Tags={"backup-rto-tier": "critical"})
    restore_job(backups, DATA, f"arn:aws:s3:::{copy}", "S3", minutes=75)
    backups.stub.add_response("put_restore_validation_result", {}, {
        "RestoreJobId": "R-1", "ValidationStatus": "SUCCESSFUL", "ValidationStatusMessage": ANY})
    result = backups.run(restored_event())
    rto = next(f for f in result["findings"] if f["check"] == "rto")
    assert (rto["state"], rto["reason"]) == ("ALARM", "restore took 75 min; RTO (critical) 60 min")
    assert incidents(harness) == [("rto-s3-financeanalyst-pro-demo-data", "P2", "OPEN")]


def test_an_rds_restore_must_be_available_and_the_same_engine_and_size(backups, harness) -> None:
    rds = harness.world.client("rds")
    spec = {"DBInstanceClass": "db.t3.micro", "Engine": "postgres", "MasterUsername": "app", "MasterUserPassword": "secret-123"}
    rds.create_db_instance(DBInstanceIdentifier="orders-db", AllocatedStorage=100, **spec)
    rds.create_db_instance(DBInstanceIdentifier=f"{COPY}orders-db-1", AllocatedStorage=20, **spec)
    source = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
    restore_job(backups, source, f"arn:aws:rds:us-east-1:123456789012:db:{COPY}orders-db-1", "RDS", minutes=30)
    backups.stub.add_response("put_restore_validation_result", {}, {
        "RestoreJobId": "R-1", "ValidationStatus": "FAILED",
        "ValidationStatusMessage": "restored instance differs from the source in AllocatedStorage (100 → 20)"})
    result = backups.run(restored_event())
    assert backups.findings(result, "restore") == {source: "ALARM"}
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == ["orders-db"]


# --- cleanup ---------------------------------------------------------------------------------------

def test_orphan_cleanup_deletes_at_most_the_configured_number_per_run(backups, harness) -> None:
    harness.use_policy(lambda p: p["backup"]["cleanup"].update(delete_orphans=True))
    backups.deps = harness.world.dependencies("backup_verify", harness.clock)
    backups.deps._clients["backup"] = backups.client
    gone = [{"RecoveryPointArn": f"arn:aws:backup:us-east-1:123456789012:recovery-point:gone-{n}",
             "ResourceArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/deleted-{n}", "ResourceType": "DynamoDB",
             "Status": "COMPLETED", "CreationDate": NOW - timedelta(days=2), "BackupVaultName": VAULT} for n in range(7)]
    alive = {"RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:alive", "ResourceArn": ORDERS,
             "ResourceType": "DynamoDB", "Status": "COMPLETED", "CreationDate": NOW, "BackupVaultName": VAULT}
    backups.stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [alive, *gone]},
                              {"BackupVaultName": VAULT})
    for orphan in gone[:5]:
        backups.stub.add_response("delete_recovery_point", {}, {"BackupVaultName": VAULT,
                                                                "RecoveryPointArn": orphan["RecoveryPointArn"]})
    result = backups.run({"task": "cleanup"})
    assert [n["result"] for n in result["checks"]] == ["deleted"] * 5 + ["kept"] * 2
    [finding] = result["findings"]
    assert finding["state"] == "ALARM" and finding["reason"].startswith(
        "7 recovery points of resources that no longer exist; deleted 5 (at most 5 per run)")


def test_orphans_are_only_reported_when_deletion_is_off(backups) -> None:
    backups.stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [{
        "RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:gone", "ResourceType": "S3",
        "ResourceArn": "arn:aws:s3:::financeanalyst-pro-long-gone-bucket", "Status": "COMPLETED", "CreationDate": NOW}]},
        {"BackupVaultName": VAULT})
    result = backups.run({"task": "cleanup"})
    assert [n["result"] for n in result["checks"]] == ["kept"]
    assert "(deletion off in config: reported only)" in result["findings"][0]["reason"]


def test_opsctl_test_restore_starts_a_restore_of_the_newest_point_into_a_named_copy(backups) -> None:
    backups.points(ORDERS, point(ORDERS, NOW - timedelta(hours=8), ident="old"),
                   point(ORDERS, NOW - timedelta(hours=2), ident="new"))
    backups.stub.add_response("get_recovery_point_restore_metadata", {"RestoreMetadata": {"targetTableName": f"{PREFIX}-orders"}},
                              {"BackupVaultName": VAULT, "RecoveryPointArn": point(ORDERS, NOW, ident="new")["RecoveryPointArn"]})
    backups.stub.add_response("start_restore_job", {"RestoreJobId": "R-9"}, {
        "RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:new",
        "Metadata": {"targetTableName": f"{COPY}orders-202611241915"},
        "IamRoleArn": f"arn:aws:iam::123456789012:role/{PREFIX}-backup", "ResourceType": "DynamoDB",
        "IdempotencyToken": ANY})
    result = backups.run({"task": "test-restore", "resource": ORDERS, "by": "alice"})
    [note] = result["checks"]
    assert (note["result"], note["restore_job"]) == ("executed", "R-9")
    [decision] = [d for d in backups.decisions() if d["action"] == "backup.test-restore"]
    assert (decision["decided_by"], decision["result"], decision["details"]["restore_job"]) == ("human:alice", "executed", "R-9")


def test_a_failed_restore_job_is_an_incident(backups, harness) -> None:
    backups.stub.add_response("describe_restore_job", {
        "RestoreJobId": "R-2", "SourceResourceArn": DATA, "Status": "FAILED", "StatusMessage": "Access denied to KMS key",
        "RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:1", "CreatedBy": OUR_PLAN},
        {"RestoreJobId": "R-2"})
    result = backups.run({"source": "aws.backup", "detail-type": "Restore Job State Change",
                          "detail": {"restoreJobId": "R-2", "status": "FAILED"}})
    assert backups.findings(result, "restore") == {DATA: "ALARM"}
    assert incidents(harness) == [("restore-s3-financeanalyst-pro-demo-data", "P1", "OPEN")]


# --- our own restore tests of critical resources, through the guardrails -------------------------

def expect_restore_start(backups, job: str = "R-7") -> None:
    backups.points(ORDERS, point(ORDERS, NOW - timedelta(hours=2), ident="new"))
    backups.stub.add_response("get_recovery_point_restore_metadata", {"RestoreMetadata": {"targetTableName": "x"}},
                              {"BackupVaultName": VAULT, "RecoveryPointArn": ANY})
    backups.stub.add_response("start_restore_job", {"RestoreJobId": job}, {
        "RecoveryPointArn": ANY, "Metadata": ANY, "IamRoleArn": ANY, "ResourceType": "DynamoDB", "IdempotencyToken": ANY})


def test_the_critical_resource_least_recently_restored_is_restore_tested(backups, harness) -> None:
    expect_restore_start(backups)
    [note] = backups.run({"task": "restore-tests"})["checks"]
    assert (note["target"], note["result"]) == (ORDERS, "executed")  # orders is critical; the bucket is not
    [decision] = backups.decisions()
    assert (decision["decided_by"], decision["result"], decision["details"]["restore_job"]) == ("automation", "executed", "R-7")
    # Validated since: not due again for critical_every_days.
    harness.world.client("dynamodb").put_item(TableName=harness.world.settings.ledger_table, Item={
        "pk": {"S": f"RESTORE#{ORDERS}"}, "sk": {"S": "LATEST"}, "validated_at": {"S": "2026-11-24T19:20:00.000Z"}})
    [again] = backups.run({"task": "restore-tests"}, NOW + timedelta(days=1))["checks"]
    assert again["result"] == "not due" and "has a validated restore since 2026-11-22" in again["reason"]


def test_a_crash_after_the_restore_started_is_finished_with_the_same_job(backups, harness, monkeypatch) -> None:
    """Lambda dies right after StartRestoreJob: the retry of the same scheduled run finds its decision
    executing, starts again with the decision as the idempotency token (AWS Backup answers with the
    job it started) and the same copy name, and records it: one decision, one job."""
    scheduled = {"task": "restore-tests", "at": "2026-11-24T19:15:00Z"}
    expect_restore_start(backups)
    crash_after(monkeypatch, backups.deps.client("backup"), "start_restore_job")
    with pytest.raises(LambdaDied):
        backups.run(scheduled)
    monkeypatch.undo()
    [intent] = backups.decisions()
    assert intent["result"] == "executing"
    backups.points(ORDERS, point(ORDERS, NOW - timedelta(hours=2), ident="new"))
    backups.stub.add_response("get_recovery_point_restore_metadata", {"RestoreMetadata": {"targetTableName": "x"}},
                              {"BackupVaultName": VAULT, "RecoveryPointArn": ANY})
    backups.stub.add_response("start_restore_job", {"RestoreJobId": "R-7"}, {
        "RecoveryPointArn": ANY, "IamRoleArn": ANY, "ResourceType": "DynamoDB", "IdempotencyToken": intent["id"],
        "Metadata": {"targetTableName": f"{COPY}orders-202611241915"}})
    [note] = backups.run(scheduled, NOW + timedelta(minutes=2))["checks"]
    assert (note["result"], note["restore_job"]) == ("executed", "R-7")
    [decision] = backups.decisions()
    assert (decision["result"], decision["details"]["restore_job"]) == ("executed", "R-7")
    [again] = backups.run(scheduled, NOW + timedelta(minutes=3))["checks"]  # a late redelivery: nothing more
    assert again["result"] == "skipped" and "already decided" in again["reason"]


def test_a_maintenance_window_on_backups_pauses_automated_restore_tests_not_humans(backups, harness) -> None:
    harness.calendar({"task": "maintenance", "action": "enable", "message": "Storage migration", "minutes": 120,
                      "components": ["Backups"], "by": "alice"}, NOW - timedelta(minutes=5))
    [paused] = backups.run({"task": "restore-tests"})["checks"]
    assert paused["result"] == "skipped" and "maintenance window adhoc-" in paused["reason"]
    expect_restore_start(backups, job="R-8")
    [human] = backups.run({"task": "test-restore", "resource": ORDERS, "by": "alice"})["checks"]
    assert (human["result"], human["restore_job"]) == ("executed", "R-8")


def test_a_paused_or_dry_run_capability_starts_nothing(backups, harness) -> None:
    lambda_host.load_handler("backup_verify")
    from backup_service import BackupService

    guardrails = BackupService(backups.deps).guardrails  # what `opsctl automation pause restore_test` uses
    guardrails.set_control("restore_test", until=NOW + timedelta(hours=1), by="alice", reason="audit")
    [paused] = backups.run({"task": "restore-tests"})["checks"]
    assert paused["result"] == "skipped" and paused["reason"].startswith("restore_test is paused")
    guardrails.clear_control("restore_test")
    harness.use_policy(lambda p: p["capabilities"]["restore_test"].update(mode="dry-run"))
    backups.deps = harness.world.dependencies("backup_verify", harness.clock)
    backups.deps._clients["backup"] = backups.client
    [dry] = backups.run({"task": "restore-tests"}, NOW + timedelta(minutes=1))["checks"]
    assert dry["result"] == "dry_run"


def test_a_backup_page_held_back_by_a_window_is_paged_at_its_end(backups, harness) -> None:
    """Backup checks are virtual alarms: DescribeAlarms does not list them, so the end-of-window
    re-check finds them through what the window held back."""
    [window] = harness.calendar({"task": "maintenance", "action": "enable", "message": "Emergency maintenance",
                                 "minutes": 60, "by": "alice"}, NOW - timedelta(minutes=10))
    harness.empty_queues()
    backups.verify(orders_age=timedelta(hours=8))
    [incident] = harness.incidents()
    assert incident["suppressed_by"] == window["target"] and harness.notifications("P1") == []
    ends = NOW + timedelta(minutes=50)
    harness.calendar({"task": "window-end", "window": window["target"]}, ends)
    outcomes = [o for e in harness.ops_events() if e["detail-type"] == "Maintenance Window Ended"
                for o in harness.triage(e, ends)]
    assert [(o["result"], o["incident"]) for o in outcomes] == [("paged", incident["id"])]
    [page] = harness.notifications("P1")
    assert page["Subject"].startswith(f"[P1] {incident['id']} Still firing after maintenance: {PREFIX}-backup-freshness")


def test_test_restore_wait_shows_progress_until_validated(backups, monkeypatch, capsys) -> None:
    import time

    from opsctl.main import _wait_for_restore

    lambda_host.load_handler("backup_verify")
    from backup_service import BackupService

    service = BackupService(backups.deps)
    for status, done, validation in (("RUNNING", 40.0, None), ("COMPLETED", 100.0, None),
                                     ("COMPLETED", 100.0, "SUCCESSFUL")):
        response = {"RestoreJobId": "R-5", "Status": status, "PercentDone": str(done)}
        backups.stub.add_response("describe_restore_job", response | ({"ValidationStatus": validation,
                                                                        "ValidationStatusMessage": "20/20 match"}
                                                                       if validation else {}), {"RestoreJobId": "R-5"})
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    assert _wait_for_restore(service, "R-5") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["RUNNING", "COMPLETED", "COMPLETED"]
    assert lines[2].endswith("validation SUCCESSFUL") and lines[3] == "20/20 match"
