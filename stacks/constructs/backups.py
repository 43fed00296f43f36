"""Backup & Recovery per the runbook's table: an encrypted vault and a plan with one rule per backup
class (resources selected by tag), weekly restore testing, the configuration bucket's 90-day version
history, and the backup_verify Lambda on AWS Backup's job events and an hourly freshness check."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, TimeZone
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from controlplane.events import (
    backup_plan_name,
    restore_copy_prefix,
    restore_testing_plan_name,
)
from controlplane.policy import BackupPolicy, Policy
from controlplane.registry import BACKUP_VERIFY_CONCURRENCY
from stacks.constructs.capability import capability_function
from stacks.constructs.lambda_factory import SharedLayers
from stacks.constructs.nag import acknowledge
from stacks.constructs.reporting import private_bucket

RESTORE_TESTED_TYPES = ("S3", "DynamoDB", "RDS")
# Restored copies we create (opsctl backup test-restore) carry this in their name; the verifier may
# delete only those, and AWS Backup deletes restore-testing copies itself after the validation window.


# On every recovery point our plan makes: what the verifier may restore and delete (IAM conditions on it).
OWNER_TAG = "ops-control-plane"
BACKUP_POLICIES = ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores",
                   "AWSBackupServiceRolePolicyForS3Backup", "AWSBackupServiceRolePolicyForS3Restore")


def runbook_plan(scope: Construct, *, prefix: str, config: BackupPolicy, timezone: str, vault: backup.IBackupVault,
                 role_name: str | None) -> tuple[iam.Role, backup.BackupPlan]:
    """The runbook's backup table as AWS Backup's plan: one rule per backup class into `vault`, the
    resources chosen by their tag, and the service role AWS Backup works with. The hub's, and every
    spoke's (where `role_name` is None: IAM is global, and one name in every Region would collide)."""
    role = iam.Role(scope, "Role", role_name=role_name,
                    assumed_by=iam.ServicePrincipal("backup.amazonaws.com"), managed_policies=[
                        iam.ManagedPolicy.from_aws_managed_policy_name(f"service-role/{name}") for name in BACKUP_POLICIES])
    acknowledge(role, {f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{name}]":
                       "AWS Backup's own service-role policies: what it needs to back up and restore the resources "
                       "our tag selections choose." for name in BACKUP_POLICIES})
    plan = backup.BackupPlan(scope, "Plan", backup_plan_name=backup_plan_name(prefix), backup_vault=vault)
    for name, spec in config.classes.items():
        plan.add_rule(backup.BackupPlanRule(
            rule_name=name, delete_after=Duration.days(spec.retention_days),
            enable_continuous_backup=spec.continuous or None, schedule_expression_timezone=TimeZone.of(timezone),
            schedule_expression=events.Schedule.expression(spec.schedule),
            start_window=Duration.hours(1), completion_window=Duration.hours(4),
            recovery_point_tags={OWNER_TAG: prefix}))
        plan.add_selection(f"Select-{name}", backup_selection_name=f"{prefix}-{name}", role=role,
                           resources=[backup.BackupResource.from_tag(config.tag_key, name)])
    return role, plan


class BackupVerification(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, policy: Policy,
                 shared: SharedLayers,
                 access_logs: s3.IBucket, environment: dict[str, str],
                 retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        config = policy.backup
        key = kms.Key(self, "VaultKey", alias=f"alias/{prefix}-backups", enable_key_rotation=True,
                      removal_policy=RemovalPolicy.RETAIN, description="Encrypts the backup vault")
        self.vault = backup.BackupVault(self, "Vault", backup_vault_name=config.vault_name, encryption_key=key,
                                        removal_policy=RemovalPolicy.RETAIN)
        self.role, self.plan = runbook_plan(self, prefix=prefix, config=config, timezone=policy.timezone,
                                            vault=self.vault, role_name=f"{prefix}-backup")

        testing_name = restore_testing_plan_name(prefix)
        testing = backup.CfnRestoreTestingPlan(
            self, "RestoreTesting", restore_testing_plan_name=testing_name,
            schedule_expression=config.restore_testing.schedule, schedule_expression_timezone=policy.timezone,
            start_window_hours=1,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW", include_vaults=[self.vault.backup_vault_arn],
                recovery_point_types=["SNAPSHOT"], selection_window_days=7))
        # One selection per resource type and class: the conditions of one selection must all hold,
        # so listing every class in one would select only resources tagged with all of them.
        for kind in RESTORE_TESTED_TYPES:
            for name in config.classes:
                selection = backup.CfnRestoreTestingSelection(
                    self, f"RestoreTesting{kind}{name}", restore_testing_plan_name=testing_name,
                    restore_testing_selection_name=re.sub(r"[^A-Za-z0-9_]", "_", f"{testing_name}_{kind}_{name}").lower(),
                    protected_resource_type=kind, protected_resource_arns=["*"], iam_role_arn=self.role.role_arn,
                    validation_window_hours=config.restore_testing.validation_window_hours,
                    protected_resource_conditions=backup.CfnRestoreTestingSelection.ProtectedResourceConditionsProperty(
                        string_equals=[backup.CfnRestoreTestingSelection.KeyValueProperty(
                            key=f"aws:ResourceTag/{config.tag_key}", value=name)]))
                selection.node.add_dependency(testing)

        # Configuration: "after changes, 90 days" — every change is a version, kept that long.
        self.configuration = private_bucket(
            self, "Configuration", logs=access_logs, versioned=True, bucket_name=config.configuration.bucket,
            lifecycle_rules=[s3.LifecycleRule(id="keep-versions", noncurrent_version_expiration=Duration.days(
                config.configuration.retention_days))])

        self.dead_letters, self.handler = capability_function(
            self, name="backup_verify", prefix=prefix, shared=shared, environment=environment,
            retry_attempts=retry_attempts, max_event_age=max_event_age,
            timeout_seconds=300, reserved_concurrency=BACKUP_VERIFY_CONCURRENCY,
            unscoped_actions=("tag:GetResources", "backup:ListRecoveryPointsByResource", "backup:ListBackupPlans",
                              "backup:DescribeRestoreJob", "backup:PutRestoreValidationResult"),
        )
        self._grant(stack, config, prefix, policy.app)

    def _grant(self, stack: Stack, config: BackupPolicy, prefix: str, app: str) -> None:
        role = self.handler.role
        vault_points = stack.format_arn(service="backup", resource="recovery-point", resource_name="*",
                                        arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(actions=["backup:GetBackupPlan"], resources=[self.plan.backup_plan_arn]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["backup:ListRecoveryPointsByBackupVault"], resources=[self.vault.backup_vault_arn]))
        # Recovery-point ARNs do not name their vault: restores and deletions are confined to the points our
        # plan made by the tag every rule puts on them (OWNER_TAG).
        role.add_to_policy(iam.PolicyStatement(
            actions=["backup:StartRestoreJob", "backup:DeleteRecoveryPoint"], resources=[vault_points],
            conditions={"StringEquals": {f"aws:ResourceTag/{OWNER_TAG}": prefix}}))
        role.add_to_policy(iam.PolicyStatement(actions=["backup:GetRecoveryPointRestoreMetadata"], resources=[vault_points]))
        role.add_to_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.role.role_arn],
                                               conditions={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}))
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetBucketVersioning", "s3:GetLifecycleConfiguration"], resources=[self.configuration.bucket_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=[stack.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME)]))
        copies, apps, tag = f"{restore_copy_prefix(prefix)}*", f"{app}-*", config.tag_key
        here = f"{stack.region}:{stack.account}"
        table = lambda name: stack.format_arn(service="dynamodb", resource="table", resource_name=name)  # noqa: E731
        database = lambda name: stack.format_arn(service="rds", resource="db", resource_name=name,  # noqa: E731
                                                 arn_format=ArnFormat.COLON_RESOURCE_NAME)
        tagged = lambda key: {"StringLike": {key: "*"}}  # noqa: E731 - the resource carries the backup-class tag
        for actions, resources, conditions in (
                # Restore validation compares a protected resource with its restored copy. Protected
                # resources are the ones carrying the backup-class tag: DynamoDB and RDS reads require
                # it; S3 cannot condition object reads on a bucket's tags, so the application's buckets
                # by name. The copies our restore tests make are readable by name…
                (["s3:ListBucket"], [f"arn:{stack.partition}:s3:::{apps}", f"arn:{stack.partition}:s3:::{copies}"], None),
                (["s3:GetObject"], [f"arn:{stack.partition}:s3:::{apps}/*", f"arn:{stack.partition}:s3:::{copies}/*"], None),
                # Metadata (existence, counts, engine) of any table and instance: the orphan check and
                # the source side of a comparison. Their content only with the tag, or as our copy.
                (["dynamodb:DescribeTable"], [table("*")], None),
                (["dynamodb:Scan", "dynamodb:GetItem"], [table("*")], tagged(f"aws:ResourceTag/{tag}")),
                (["dynamodb:Scan"], [table(copies)], None),
                (["rds:DescribeDBInstances"], [database("*")], None),
                # …and the only things it may delete (every version of a copy's objects).
                (["s3:ListBucketVersions", "s3:DeleteBucket"], [f"arn:{stack.partition}:s3:::{copies}"], None),
                (["s3:DeleteObjectVersion"], [f"arn:{stack.partition}:s3:::{copies}/*"], None),
                (["dynamodb:DeleteTable"], [table(copies)], None), (["rds:DeleteDBInstance"], [database(copies)], None)):
            role.add_to_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))
        reason = (f"Backup verification works on the resources it protects, chosen at run time by their {tag} tag: it "
                  "may describe any table or DB instance (metadata: existence, counts, engine), read a table's items "
                  f"only if it carries that tag, read objects only in the application's buckets ({apps}; S3 cannot "
                  f"condition object reads on bucket tags) and in the copies its restore tests make ({copies}), the "
                  "only resources it may delete. Recovery-point ARNs do not name their vault: restores and deletions "
                  f"of recovery points require the {OWNER_TAG} tag our plan puts on its points.")
        wildcards = [f"backup:{here}:recovery-point:*", f"logs:{here}:log-group:*", f"s3:::{apps}", f"s3:::{apps}/*",
                     f"s3:::{copies}", f"s3:::{copies}/*", f"dynamodb:{here}:table/*", f"dynamodb:{here}:table/{copies}",
                     f"rds:{here}:db:*", f"rds:{here}:db:{copies}"]
        acknowledge(role, {f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{w}]": reason for w in wildcards})
