"""A restore counts only if its content matches its source: S3 (object count and checksums of a
sample), DynamoDB (item count and sampled items), RDS (available, same engine and size). Live data
moves on after a backup, so counts and samples may differ by `tolerance_percent`. The restored copy
is deleted afterwards, whatever the verdict.

Bounded whatever the size, so one invocation always finishes: DynamoDB counts are the service's
own (DescribeTable's ItemCount), items are sampled with one Scan page; S3 listings stop after
PAGE_CAP pages a bucket, and a count past the cap is "at least", judged by the sample alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

# Pages read of one listing: ListObjectsV2 (1,000 keys each) per bucket, and Scan (1 MB each) when
# DynamoDB has not yet published a new table's count.
PAGE_CAP = 10


def first_pages(pages: Iterable[dict[str, Any]], more: str) -> tuple[list[dict[str, Any]], bool]:
    """At most PAGE_CAP pages of a listing, and whether they were all of it (`more`: the key a page
    carries when another follows)."""
    taken: list[dict[str, Any]] = []
    for page in pages:
        taken.append(page)
        if len(taken) == PAGE_CAP and page.get(more):
            return taken, False
    return taken, True


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str
    details: dict[str, Any]
    # The copy was compared with its source and does not hold its data (empty, too few, or different
    # content): the runbook's Data Loss, not merely a restore that did not work.
    data_loss: bool = False


def name_of(arn: str) -> str:
    """arn:aws:s3:::bucket → bucket; …:table/orders → orders; …:db:orders → orders."""
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def within(expected: int, actual: int, tolerance_percent: float) -> bool:
    return abs(expected - actual) <= expected * tolerance_percent / 100


class Validator:
    def __init__(self, session_client: Any, sample_size: int, tolerance_percent: float) -> None:
        self.client = session_client  # client(service) → boto3 client
        self.sample_size = sample_size
        self.tolerance = tolerance_percent

    def validate(self, resource_type: str, source_arn: str, restored_arn: str) -> Verdict:
        check = {"S3": self.s3, "DynamoDB": self.dynamodb, "RDS": self.rds}.get(resource_type)
        if check is None:
            return Verdict(False, f"no content check for resource type {resource_type}", {})
        return check(name_of(source_arn), name_of(restored_arn))

    def cleanup(self, resource_type: str, restored_arn: str) -> str:
        name = name_of(restored_arn)
        if resource_type == "S3":
            s3 = self.client("s3")
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
                doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                          for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if doomed:
                    s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
            s3.delete_bucket(Bucket=name)
        elif resource_type == "DynamoDB":
            self.client("dynamodb").delete_table(TableName=name)
        elif resource_type == "RDS":
            self.client("rds").delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True,
                                                  DeleteAutomatedBackups=True)
        return name

    # --- per type -------------------------------------------------------------------------------

    def s3(self, source: str, restored: str) -> Verdict:
        s3 = self.client("s3")

        def keys(bucket: str) -> tuple[list[str], bool]:
            pages, whole = first_pages(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket), "IsTruncated")
            return [o["Key"] for page in pages for o in page.get("Contents", [])], whole

        def digest(bucket: str, key: str) -> str | None:
            try:
                return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
            except s3.exceptions.NoSuchKey:
                return None

        (source_keys, source_whole), (restored_keys, restored_whole) = keys(source), keys(restored)
        sample = sorted(restored_keys)[: self.sample_size]
        mismatched = [k for k in sample if digest(source, k) != digest(restored, k)]
        source_count = f"{len(source_keys)}" if source_whole else f"at least {len(source_keys)}"
        restored_count = f"{len(restored_keys)}" if restored_whole else f"at least {len(restored_keys)}"
        details = {"source_objects": len(source_keys), "restored_objects": len(restored_keys), "sampled": len(sample),
                   "counted_all": source_whole and restored_whole, "mismatched": mismatched[:10]}
        if not restored_keys and source_keys:
            return Verdict(False, f"restored bucket is empty; source has {source_count} objects", details, data_loss=True)
        if source_whole and restored_whole and not within(len(source_keys), len(restored_keys), self.tolerance):
            return Verdict(False, f"object count {len(restored_keys)} vs source {len(source_keys)} "
                                  f"(tolerance {self.tolerance} %)", details, data_loss=True)
        if len(mismatched) > len(sample) * self.tolerance / 100:
            return Verdict(False, f"{len(mismatched)} of {len(sample)} sampled objects differ from the source "
                                  f"(sha256), e.g. {mismatched[0]}", details, data_loss=True)
        return Verdict(True, f"{restored_count} objects (source {source_count}); "
                             f"{len(sample) - len(mismatched)}/{len(sample)} sampled checksums match", details)

    def dynamodb(self, source: str, restored: str) -> Verdict:
        dynamodb = self.client("dynamodb")
        described = dynamodb.describe_table(TableName=source)["Table"]
        key_names = [k["AttributeName"] for k in described["KeySchema"]]
        source_count = int(described.get("ItemCount", 0))
        restored_count = int(dynamodb.describe_table(TableName=restored)["Table"].get("ItemCount", 0))
        counted = "DescribeTable"
        if restored_count == 0 and source_count:
            # DynamoDB refreshes ItemCount about every six hours: a fresh copy may not show one yet.
            restored_count, whole = self._bounded_count(restored)
            counted = "a count of the copy" if whole else f"a count capped at {PAGE_CAP} pages"
        else:
            whole = True
        sample = dynamodb.scan(TableName=restored, Limit=self.sample_size, ConsistentRead=True)["Items"]
        deserialize = TypeDeserializer().deserialize
        mismatched = []
        for item in sample:
            found = dynamodb.get_item(TableName=source, Key={k: item[k] for k in key_names}, ConsistentRead=True)
            if {k: deserialize(v) for k, v in found.get("Item", {}).items()} != {k: deserialize(v) for k, v in item.items()}:
                mismatched.append({k: deserialize(item[k]) for k in key_names})
        details = {"source_items": source_count, "restored_items": restored_count, "counted_by": counted,
                   "sampled": len(sample), "mismatched": [str(m) for m in mismatched[:10]]}
        if not restored_count and source_count:
            return Verdict(False, f"restored table is empty; source has {source_count} items", details, data_loss=True)
        if whole and not within(source_count, restored_count, self.tolerance):
            return Verdict(False, f"item count {restored_count} vs source {source_count} (tolerance {self.tolerance} %)",
                           details, data_loss=True)
        if len(mismatched) > len(sample) * self.tolerance / 100:
            return Verdict(False, f"{len(mismatched)} of {len(sample)} sampled items differ from the source", details,
                           data_loss=True)
        return Verdict(True, f"{restored_count if whole else f'at least {restored_count}'} items (source {source_count}); "
                             f"{len(sample) - len(mismatched)}/{len(sample)} sampled items match", details)

    def _bounded_count(self, table: str) -> tuple[int, bool]:
        """Items of `table` counted over at most PAGE_CAP Scan pages, and whether that was all."""
        pages, whole = first_pages(self.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT"),
                                   "LastEvaluatedKey")
        return sum(page["Count"] for page in pages), whole

    def rds(self, source: str, restored: str) -> Verdict:
        rds = self.client("rds")
        fields = ("Engine", "EngineVersion", "AllocatedStorage", "DBInstanceClass")
        src = rds.describe_db_instances(DBInstanceIdentifier=source)["DBInstances"][0]
        new = rds.describe_db_instances(DBInstanceIdentifier=restored)["DBInstances"][0]
        details = {"status": new["DBInstanceStatus"], **{f: [src.get(f), new.get(f)] for f in fields}}
        if new["DBInstanceStatus"] != "available":
            return Verdict(False, f"restored instance is {new['DBInstanceStatus']}, not available", details)
        differing = [f for f in fields if src.get(f) != new.get(f)]
        if differing:
            return Verdict(False, "restored instance differs from the source in " + ", ".join(
                f"{f} ({src.get(f)} → {new.get(f)})" for f in differing), details)
        return Verdict(True, f"available; {src['Engine']} {src.get('EngineVersion')}, {src['AllocatedStorage']} GiB, "
                             f"{src['DBInstanceClass']} as the source", details)
