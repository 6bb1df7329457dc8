"""A pipeline artifact bucket: KMS (the region's key), versioned, TLS only, private.

CodePipeline needs one artifact store in every region where an action runs; the DR
store lives in the DR stack (deployed first), the primary's in the pipeline stack.
Artifacts are build outputs that can be rebuilt, so they expire; the bucket itself is
named and kept (KEEP) like every named stateful resource.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.storage.construct import private_kms_bucket

ARTIFACT_DAYS = 90


class ArtifactBucket(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_kms_bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            key=key,
            access_logs=access_logs,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-artifacts",
                    expiration=cdk.Duration.days(ARTIFACT_DAYS),
                    noncurrent_version_expiration=cdk.Duration.days(7),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.bucket,
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "Pipeline artifacts are rebuilt by re-running the pipeline; each region where "
            "actions run already has its own artifact store",
        )
