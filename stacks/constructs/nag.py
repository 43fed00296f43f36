"""cdk-nag v3 acknowledgements: per construct, each with a reason a security reviewer accepts."""

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

PARTITION_TOKEN = "arn:<AWS::Partition>:"


def acknowledge(construct: IConstruct, reasons: dict[str, str]) -> None:
    for rule_id, reason in reasons.items():
        Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
        if PARTITION_TOKEN in rule_id:
            # With @aws-cdk/core:enablePartitionLiterals a known Region's partition is written out.
            literal = rule_id.replace(PARTITION_TOKEN, f"arn:{Stack.of(construct).partition}:")
            if literal != rule_id and "${" not in literal:
                Validations.of(construct).acknowledge(Acknowledgment(id=literal, reason=reason))
