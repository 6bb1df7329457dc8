"""Attachment storage: customer files in S3, encrypted with the region's key, copied to DR.

Twenty CRM keeps uploaded attachments in S3. They are customer data, so they are never
expired, only tiered to cheaper storage, and every version is kept long enough to undo
a mistaken overwrite or delete. The primary bucket replicates into a bucket of the same
shape in the DR region; the two stacks know each other only by deterministic names, so
replication is configured from strings (bucket name, key alias ARN) rather than from
cross-region references.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.retention import KEEP
from crm_platform.trust import source_conditions

ACCESS_LOG_RETENTION_DAYS = 365
ACCESS_LOG_NONCURRENT_DAYS = 30
ABORT_MULTIPART_DAYS = 7
INFREQUENT_ACCESS_AFTER_DAYS = 30
GLACIER_AFTER_DAYS = 90
CORS_MAX_AGE_SECONDS = 3000
RTC_MINUTES = 15  # the only value S3 Replication Time Control accepts


def private_kms_bucket(
    scope: Construct,
    construct_id: str,
    *,
    bucket_name: str,
    key: kms.IKey,
    access_logs: s3.IBucket,
    lifecycle_rules: list[s3.LifecycleRule],
    **extra: object,
) -> s3.Bucket:
    """A named bucket as every data bucket here is: SSE-KMS with a bucket key (one data
    key per bucket instead of one KMS call per object), private, TLS 1.2+ only,
    versioned, access-logged under ``s3/<name>/``, kept (KEEP).

    CDK lets S3 log delivery write into the log bucket under ``aws:SourceArn`` and
    ``aws:SourceAccount`` only when both buckets are in one stack; across stacks it
    writes the grant without them. Then the grant is written here, with both keys
    naming this bucket by its (deterministic) name (ADR 0038).
    """
    target = access_logs
    across = cdk.Stack.of(access_logs) is not cdk.Stack.of(scope)
    if across:
        target = s3.Bucket.from_bucket_name(
            scope, f"{construct_id}AccessLogTarget", access_logs.bucket_name
        )
        access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"S3LogsDelivery{construct_id}",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[access_logs.arn_for_objects(f"s3/{bucket_name}/*")],
                conditions=source_conditions(
                    cdk.Stack.of(scope).account, f"arn:aws:s3:::{bucket_name}"
                ),
            )
        )
    bucket = s3.Bucket(
        scope,
        construct_id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        server_access_logs_bucket=target,
        server_access_logs_prefix=f"s3/{bucket_name}/",
        lifecycle_rules=lifecycle_rules,
        removal_policy=KEEP,
        **extra,  # type: ignore[arg-type]
    )
    if across:
        cdk.Annotations.of(bucket).acknowledge_warning(
            "@aws-cdk/aws-s3:accessLogsPolicyNotAdded",
            "The log bucket's grant for this bucket is written above, with its source keys",
        )
    return bucket


@dataclass(frozen=True)
class ReplicationTarget:
    """Where the primary copies attachments, named by strings because it lives in another region.

    ``kms_key_alias_arn`` is an alias ARN because the DR key's id is generated at deploy
    time in the other region; S3 resolves the alias when it encrypts each replica.
    """

    bucket_name: str
    region: str
    kms_key_alias_arn: str
    replication_time_control: bool

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket_name}"


class AccessLogBucket(Construct):
    """Server-access-log target for one region (SSE-S3: S3 access logging cannot write to SSE-KMS buckets)."""  # noqa: E501

    def __init__(self, scope: Construct, construct_id: str, *, bucket_name: str) -> None:
        super().__init__(scope, construct_id)
        # Log delivery is granted by a bucket policy (serverAccessLogsUseBucketPolicy), so
        # ACLs can stay disabled here too.
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(ACCESS_LOG_RETENTION_DAYS),
                    noncurrent_version_expiration=cdk.Duration.days(ACCESS_LOG_NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(ABORT_MULTIPART_DAYS),
                ),
            ],
            removal_policy=KEEP,
        )
        skip_checkov(
            self.bucket, "CKV_AWS_18", "This is the access-log target; it cannot log to itself"
        )
        skip_checkov(self.bucket, "CKV_AWS_145", "S3 access logging only writes to SSE-S3 buckets")
        # No S1/S3BucketLoggingEnabled acknowledgement: cdk-nag accepts a bucket that other
        # buckets log into, which is what this one is (tests/test_acknowledgements.py).
        acknowledge(
            self.bucket,
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "S3 server access logging only delivers to SSE-S3 buckets, so this log "
            "target is encrypted with S3-managed keys instead of SSE-KMS.",
        )
        acknowledge(
            self.bucket,
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "Access logs are per-region audit records kept for a year; each region has "
            "its own log bucket and the logs are not needed to recover the service.",
        )


class AttachmentBucket(Construct):
    """Bucket for the CRM's file attachments, replicated to DR when ``replicate_to`` is set.

    Versions are kept for ``noncurrent_version_expiration_days`` so a bad overwrite or a
    delete can be undone; replication copies deletes as delete markers only, so earlier
    versions survive in both regions.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
        cors_origin: str,
        noncurrent_version_expiration_days: int,
        replicate_to: ReplicationTarget | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_kms_bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            key=key,
            access_logs=access_logs,
            lifecycle_rules=[
                # No current-version expiration: attachments are customer data.
                s3.LifecycleRule(
                    id="tier-attachments",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(INFREQUENT_ACCESS_AFTER_DAYS),
                        ),
                        s3.Transition(
                            # Instant Retrieval: Twenty serves attachments by presigned GET,
                            # which Glacier Flexible Retrieval would refuse until restored.
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cdk.Duration.days(GLACIER_AFTER_DAYS),
                        ),
                    ],
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(ABORT_MULTIPART_DAYS),
                ),
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=cdk.Duration.days(
                        noncurrent_version_expiration_days
                    ),
                ),
            ],
            # Browsers upload and download attachments directly with presigned URLs.
            cors=[
                s3.CorsRule(
                    allowed_origins=[cors_origin],
                    allowed_methods=[
                        s3.HttpMethods.GET,
                        s3.HttpMethods.PUT,
                        s3.HttpMethods.POST,
                        s3.HttpMethods.HEAD,
                    ],
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=CORS_MAX_AGE_SECONDS,
                )
            ],
            auto_delete_objects=False,
        )
        self.replication_role: iam.Role | None = None
        if replicate_to is None:
            acknowledge(
                self.bucket,
                "NIST.800.53.R5-S3BucketReplicationEnabled",
                "This is the DR replica of the primary attachment bucket; it receives "
                "replication and replicating it again would add no recovery capability.",
            )
        else:
            self.replication_role = self._replicate(bucket_name, key, replicate_to)

    def _replicate(self, bucket_name: str, key: kms.IKey, target: ReplicationTarget) -> iam.Role:
        """Configure replication on the L1 bucket: the destination and its key are only strings.

        The L2 replication rules want an ``IKey`` for the destination and would grant the
        role on its ARN; an alias ARN cannot be granted on, so the destination key is
        granted through S3 in the DR region instead. Permissions live in one customer
        managed policy (no inline policy) so they can be reviewed as a unit; it names the
        source bucket by its known name, because a reference to the bucket would make
        bucket -> role -> policy -> bucket a cycle.
        """
        bucket = self.bucket
        source_arn = f"arn:aws:s3:::{bucket_name}"
        policy = iam.ManagedPolicy(
            self,
            "ReplicationPolicy",
            description=f"S3 replication of {bucket_name} to {target.bucket_name}",
            statements=[
                iam.PolicyStatement(
                    sid="ReadSourceBucketConfiguration",
                    actions=["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    resources=[source_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadSourceObjectVersions",
                    actions=[
                        "s3:GetObjectVersionForReplication",
                        "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging",
                    ],
                    resources=[f"{source_arn}/*"],
                ),
                iam.PolicyStatement(
                    sid="WriteReplicas",
                    actions=[
                        "s3:ReplicateObject",
                        "s3:ReplicateDelete",
                        "s3:ReplicateTags",
                        "s3:GetObjectVersionTagging",
                    ],
                    resources=[f"{target.bucket_arn}/*"],
                ),
                iam.PolicyStatement(
                    sid="DecryptSourceObjects",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"s3.{cdk.Stack.of(self).region}.amazonaws.com"
                        }
                    },
                ),
                # An alias ARN cannot name a key for crypto operations. With S3 Bucket
                # Keys the encryption context is the bucket ARN, otherwise the object
                # ARN: allow both, and only through S3 in the DR region.
                iam.PolicyStatement(
                    sid="EncryptReplicasWithDrKey",
                    actions=["kms:Encrypt", "kms:GenerateDataKey"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{target.region}.amazonaws.com"},
                        "StringLike": {
                            "kms:EncryptionContext:aws:s3:arn": [
                                target.bucket_arn,
                                f"{target.bucket_arn}/*",
                            ]
                        },
                    },
                ),
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "The DR key is known only by alias ARN, which IAM cannot match for kms:Encrypt "
            "or GenerateDataKey; the statement is limited by kms:ViaService to S3 in the DR "
            "region and by encryption context to the destination bucket.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{source_arn}/*]",
            "S3 replication reads every object version of the source bucket; the wildcard "
            "is the object-key part of this one bucket's ARN.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{target.bucket_arn}/*]",
            "S3 replication writes every replicated object into the DR bucket; the wildcard "
            "is the object-key part of that one bucket's ARN.",
        )
        wildcard = (
            "kms:Encrypt/GenerateDataKey on the DR key, which IAM can only match by id; "
            "limited by kms:ViaService and encryption context to the DR bucket"
        )
        skip_checkov(policy, "CKV_AWS_111", wildcard)
        skip_checkov(policy, "CKV_AWS_356", wildcard)
        # S3 documents that replication sends both keys when it assumes the role, so only
        # this bucket's replication, in this account, can use it (confused deputy).
        role = iam.Role(
            self,
            "ReplicationRole",
            assumed_by=iam.ServicePrincipal(
                "s3.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": cdk.Stack.of(self).account,
                        "aws:SourceArn": source_arn,
                    }
                },
            ),
            description=f"S3 replicates attachments to {target.bucket_name} in {target.region}",
            managed_policies=[policy],
        )

        cfn = s3.CfnBucket
        destination = cfn.ReplicationDestinationProperty(
            bucket=target.bucket_arn,
            encryption_configuration=cfn.EncryptionConfigurationProperty(
                replica_kms_key_id=target.kms_key_alias_arn
            ),
            # RTC is only accepted together with replication metrics.
            replication_time=cfn.ReplicationTimeProperty(
                status="Enabled",
                time=cfn.ReplicationTimeValueProperty(minutes=RTC_MINUTES),
            )
            if target.replication_time_control
            else None,
            metrics=cfn.MetricsProperty(
                status="Enabled",
                event_threshold=cfn.ReplicationTimeValueProperty(minutes=RTC_MINUTES),
            )
            if target.replication_time_control
            else None,
        )
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, cfn)
        # Set on the L1 property (not a raw override) so cdk-nag sees the replication.
        cfn_bucket.replication_configuration = cfn.ReplicationConfigurationProperty(
            role=role.role_arn,
            rules=[
                cfn.ReplicationRuleProperty(
                    id="replicate-to-dr",
                    status="Enabled",
                    priority=1,
                    filter=cfn.ReplicationRuleFilterProperty(prefix=""),
                    # Deletes arrive in DR as delete markers, so a failover shows the same
                    # files as the primary; earlier versions stay restorable in both.
                    delete_marker_replication=cfn.DeleteMarkerReplicationProperty(status="Enabled"),
                    source_selection_criteria=cfn.SourceSelectionCriteriaProperty(
                        sse_kms_encrypted_objects=cfn.SseKmsEncryptedObjectsProperty(
                            status="Enabled"
                        )
                    ),
                    destination=destination,
                )
            ],
        )
        return role
