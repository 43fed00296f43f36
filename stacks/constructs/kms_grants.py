"""Key use without the wildcard actions of `grant_encrypt_decrypt` (kms:ReEncrypt*, GenerateDataKey*)."""

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms


def grant_key_use(key: kms.IKey, grantee: iam.IGrantable) -> None:
    """What DynamoDB and SNS need from a caller to read and write data under a customer key."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
        resource_arns=[key.key_arn],
    )
