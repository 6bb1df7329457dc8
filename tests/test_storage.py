"""Attachment storage: the buckets' protections, lifecycle, CORS and cross-region replication.

Each variant is synthesized once per module (synthesis costs seconds): the primary bucket
replicating with and without Replication Time Control, the DR destination bucket, and an
access-log bucket on its own.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from crm_platform.security.key import SERVING_REGION_SERVICES, RegionKey
from crm_platform.storage.construct import AccessLogBucket, AttachmentBucket, ReplicationTarget
from tests.support import acknowledged_in, nag_findings, template_of

PRIMARY_REGION = "ap-northeast-1"
DR_REGION = "ap-southeast-1"
ACCOUNT = "123456789012"
ATTACHMENTS = f"crm-attachments-{ACCOUNT}"
ATTACHMENTS_DR = f"{ATTACHMENTS}-dr"
DR_KEY_ALIAS_ARN = f"arn:aws:kms:{DR_REGION}:{ACCOUNT}:alias/crm-prod"
ORIGIN = "https://crm.example.com"
NONCURRENT_DAYS = 90


def _logs_name(region: str) -> str:
    return f"crm-prod-access-logs-{ACCOUNT}-{region}"


def _build(
    stack: cdk.Stack, *, bucket_name: str, replicate_to: ReplicationTarget | None
) -> AttachmentBucket:
    key = RegionKey(stack, "Key", alias="alias/crm-prod", services=SERVING_REGION_SERVICES).key
    logs = AccessLogBucket(stack, "AccessLogs", bucket_name=_logs_name(stack.region))
    return AttachmentBucket(
        stack,
        "Attachments",
        bucket_name=bucket_name,
        key=key,
        access_logs=logs.bucket,
        cors_origin=ORIGIN,
        noncurrent_version_expiration_days=NONCURRENT_DAYS,
        replicate_to=replicate_to,
    )


def _target(rtc: bool) -> ReplicationTarget:
    return ReplicationTarget(
        bucket_name=ATTACHMENTS_DR,
        region=DR_REGION,
        kms_key_alias_arn=DR_KEY_ALIAS_ARN,
        replication_time_control=rtc,
    )


def build_primary(stack: cdk.Stack, rtc: bool = True) -> AttachmentBucket:
    return _build(stack, bucket_name=ATTACHMENTS, replicate_to=_target(rtc))


def build_dr(stack: cdk.Stack) -> AttachmentBucket:
    return _build(stack, bucket_name=ATTACHMENTS_DR, replicate_to=None)


# --- fixtures: one synthesis per variant --------------------------------------------------
def _built(builder: Any, region: str) -> dict[str, Any]:
    """The template of one variant, and its AttachmentBucket construct for tree checks."""
    built: dict[str, Any] = {}

    def build(stack: cdk.Stack) -> None:
        built["attachments"] = builder(stack)

    built["template"] = template_of(build, region)
    return built


@pytest.fixture(scope="module")
def primary_built() -> dict[str, Any]:
    return _built(build_primary, PRIMARY_REGION)


@pytest.fixture(scope="module")
def primary(primary_built: dict[str, Any]) -> Template:
    template: Template = primary_built["template"]
    return template


@pytest.fixture(scope="module")
def primary_no_rtc() -> Template:
    return template_of(lambda s: build_primary(s, rtc=False), PRIMARY_REGION)


@pytest.fixture(scope="module")
def dr_built() -> dict[str, Any]:
    return _built(build_dr, DR_REGION)


@pytest.fixture(scope="module")
def dr(dr_built: dict[str, Any]) -> Template:
    template: Template = dr_built["template"]
    return template


@pytest.fixture(scope="module", params=["primary", "dr"])
def either(request: pytest.FixtureRequest) -> tuple[Template, str, str]:
    """(template, attachment bucket name, access-log bucket name) for both regions."""
    if request.param == "primary":
        return request.getfixturevalue("primary"), ATTACHMENTS, _logs_name(PRIMARY_REGION)
    return request.getfixturevalue("dr"), ATTACHMENTS_DR, _logs_name(DR_REGION)


def _acknowledged(construct: AttachmentBucket | cdk.Resource) -> set[str]:
    return {finding for _, finding in acknowledged_in(construct)}


# --- protections on every bucket ----------------------------------------------------------
def test_every_bucket_is_versioned(either: tuple[Template, str, str]) -> None:
    template, _, _ = either
    template.resource_count_is("AWS::S3::Bucket", 2)
    template.all_resources_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )


def test_every_bucket_blocks_all_public_access(either: tuple[Template, str, str]) -> None:
    template, _, _ = either
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
        },
    )


def test_every_bucket_disables_acls(either: tuple[Template, str, str]) -> None:
    template, _, _ = either
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
    )


def test_every_bucket_policy_denies_plain_http_and_old_tls(
    either: tuple[Template, str, str],
) -> None:
    template, _, _ = either
    deny_http = Match.object_like(
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    deny_old_tls = Match.object_like(
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
        }
    )
    template.resource_properties_count_is(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([deny_http, deny_old_tls])}},
        2,
    )


def test_every_bucket_is_retained(either: tuple[Template, str, str]) -> None:
    template, _, _ = either
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for resource in buckets.values():
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
        assert resource["UpdateReplacePolicy"] == "Retain"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


# --- attachment bucket --------------------------------------------------------------------
def test_attachments_use_the_region_key_with_a_bucket_key(
    either: tuple[Template, str, str],
) -> None:
    template, name, _ = either
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": name,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                        },
                    }
                ]
            },
        },
    )


def test_attachments_log_to_the_access_log_bucket(either: tuple[Template, str, str]) -> None:
    template, name, _ = either
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": name,
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": Match.any_value()},
                "LogFilePrefix": f"s3/{name}/",
            },
        },
    )
    # Log delivery is allowed by bucket policy (ACLs are disabled on the target).
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_attachments_lifecycle_tiers_and_cleans_up(either: tuple[Template, str, str]) -> None:
    template, name, _ = either
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": name,
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Status": "Enabled",
                                "Transitions": Match.array_with(
                                    [
                                        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
                                        {"StorageClass": "GLACIER_IR", "TransitionInDays": 90},
                                    ]
                                ),
                            }
                        ),
                        Match.object_like(
                            {
                                "Status": "Enabled",
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                            }
                        ),
                        Match.object_like(
                            {
                                "Status": "Enabled",
                                "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_attachments_current_versions_never_expire(either: tuple[Template, str, str]) -> None:
    template, name, _ = either
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": {"BucketName": name}})
    assert len(buckets) == 1
    (bucket,) = buckets.values()
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    for rule in rules:
        assert "ExpirationInDays" not in rule
        assert "ExpirationDate" not in rule


def test_attachments_cors_allows_only_the_app_origin(either: tuple[Template, str, str]) -> None:
    template, name, _ = either
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": name,
            "CorsConfiguration": {
                "CorsRules": [
                    {
                        "AllowedOrigins": [ORIGIN],
                        "AllowedMethods": ["GET", "PUT", "POST", "HEAD"],
                        "AllowedHeaders": ["*"],
                        "ExposedHeaders": ["ETag"],
                        "MaxAge": 3000,
                    }
                ]
            },
        },
    )


# --- access-log bucket --------------------------------------------------------------------
def test_access_logs_use_s3_managed_keys_and_expire(either: tuple[Template, str, str]) -> None:
    template, _, logs = either
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": logs,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"ExpirationInDays": 365})])
            },
            "LoggingConfiguration": Match.absent(),
        },
    )


# --- replication --------------------------------------------------------------------------
def _replication(destination: dict[str, Any]) -> dict[str, Any]:
    return {
        "BucketName": ATTACHMENTS,
        "ReplicationConfiguration": {
            "Role": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
            "Rules": [
                {
                    "Id": Match.any_value(),
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Enabled"},
                    "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
                    "Destination": destination,
                }
            ],
        },
    }


def test_primary_replicates_to_dr_with_rtc(primary: Template) -> None:
    primary.has_resource_properties(
        "AWS::S3::Bucket",
        _replication(
            {
                "Bucket": f"arn:aws:s3:::{ATTACHMENTS_DR}",
                "EncryptionConfiguration": {"ReplicaKmsKeyID": DR_KEY_ALIAS_ARN},
                "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
            }
        ),
    )


def test_primary_replicates_without_rtc_when_disabled(primary_no_rtc: Template) -> None:
    primary_no_rtc.has_resource_properties(
        "AWS::S3::Bucket",
        _replication(
            {
                "Bucket": f"arn:aws:s3:::{ATTACHMENTS_DR}",
                "EncryptionConfiguration": {"ReplicaKmsKeyID": DR_KEY_ALIAS_ARN},
                "ReplicationTime": Match.absent(),
                "Metrics": Match.absent(),
            }
        ),
    )


def test_replication_role_is_assumed_by_s3_only(primary: Template) -> None:
    primary.resource_count_is("AWS::IAM::Role", 1)
    primary.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                    }
                ]
            },
            "ManagedPolicyArns": [{"Ref": Match.any_value()}],
        },
    )
    primary.resource_count_is("AWS::IAM::Policy", 0)


def test_replication_policy_reads_source_and_writes_destination(primary: Template) -> None:
    primary.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": Match.array_with(
                                    [
                                        "s3:GetObjectVersionAcl",
                                        "s3:GetObjectVersionForReplication",
                                        "s3:GetObjectVersionTagging",
                                    ]
                                ),
                                "Resource": f"arn:aws:s3:::{ATTACHMENTS}/*",
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": Match.array_with(
                                    [
                                        "s3:GetObjectVersionTagging",
                                        "s3:ReplicateDelete",
                                        "s3:ReplicateObject",
                                        "s3:ReplicateTags",
                                    ]
                                ),
                                "Resource": f"arn:aws:s3:::{ATTACHMENTS_DR}/*",
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "kms:Decrypt",
                                "Resource": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_replication_policy_encrypts_only_through_s3_in_dr(primary: Template) -> None:
    primary.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                                "Resource": "*",
                                "Condition": {
                                    "StringEquals": {
                                        "kms:ViaService": f"s3.{DR_REGION}.amazonaws.com"
                                    },
                                    "StringLike": {
                                        "kms:EncryptionContext:aws:s3:arn": [
                                            f"arn:aws:s3:::{ATTACHMENTS_DR}",
                                            f"arn:aws:s3:::{ATTACHMENTS_DR}/*",
                                        ]
                                    },
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_dr_bucket_does_not_replicate(dr: Template) -> None:
    dr.has_resource_properties(
        "AWS::S3::Bucket",
        {"BucketName": ATTACHMENTS_DR, "ReplicationConfiguration": Match.absent()},
    )
    dr.resource_count_is("AWS::IAM::Role", 0)


def test_only_the_dr_bucket_acknowledges_missing_replication(
    primary_built: dict[str, Any], dr_built: dict[str, Any]
) -> None:
    rule = "NIST.800.53.R5-S3BucketReplicationEnabled"
    assert rule in _acknowledged(dr_built["attachments"])
    assert rule not in _acknowledged(primary_built["attachments"])


# --- cdk-nag ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "region"),
    [
        pytest.param(build_primary, PRIMARY_REGION, id="primary-replicating"),
        pytest.param(build_dr, DR_REGION, id="dr-destination"),
    ],
)
def test_no_unacknowledged_nag_findings(build: Any, region: str) -> None:
    assert nag_findings(build, region) == []
