"""The stacks wire the data tier across regions by name: each name points at a real resource."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from crm_platform.naming import Names
from crm_platform.settings import Settings


def test_attachment_bucket_replicates_to_the_dr_bucket_with_the_dr_key(
    primary: Template, dr: Template, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    dr.has_resource_properties("AWS::S3::Bucket", {"BucketName": names.attachments_bucket_dr})
    primary.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "crm-attachments-123456789012",
            "ReplicationConfiguration": {
                "Role": Match.any_value(),
                "Rules": [
                    Match.object_like(
                        {
                            "Destination": Match.object_like(
                                {
                                    "Bucket": f"arn:aws:s3:::{names.attachments_bucket_dr}",
                                    "EncryptionConfiguration": {
                                        "ReplicaKmsKeyID": names.kms_alias_arn("ap-southeast-1")
                                    },
                                }
                            )
                        }
                    )
                ],
            },
        },
    )
    primary.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "CorsConfiguration": {
                "CorsRules": [Match.object_like({"AllowedOrigins": ["https://crm.example.com"]})]
            }
        },
    )


def test_backup_copies_to_the_vault_the_dr_stack_creates(
    primary: Template, dr: Template, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    dr.has_resource_properties(
        "AWS::Backup::BackupVault", {"BackupVaultName": names.backup_vault("ap-southeast-1")}
    )
    primary.has_resource_properties(
        "AWS::Backup::BackupPlan",
        {
            "BackupPlan": Match.object_like(
                {
                    "BackupPlanRule": [
                        Match.object_like(
                            {
                                "CopyActions": [
                                    Match.object_like(
                                        {
                                            "DestinationBackupVaultArn": names.backup_vault_arn(
                                                "ap-southeast-1"
                                            )
                                        }
                                    )
                                ]
                            }
                        )
                    ]
                }
            )
        },
    )


def test_backup_selection_tag_is_on_database_and_bucket(
    primary: Template, prod_settings: Settings
) -> None:
    key, value = Names.of(prod_settings).backup_selection_tag
    tag = Match.array_with([{"Key": key, "Value": value}])
    primary.has_resource_properties("AWS::RDS::DBInstance", {"Tags": tag})
    primary.has_resource_properties(
        "AWS::S3::Bucket", {"BucketName": "crm-attachments-123456789012", "Tags": tag}
    )


def test_each_region_has_its_own_cache_and_token(
    primary: Template, dr: Template, prod_settings: Settings
) -> None:
    for template, node_type, group in (
        (primary, prod_settings.cache.node_type, "crm-prod-cache"),
        (dr, prod_settings.cache.dr_node_type, "crm-prod-cache-dr"),
    ):
        template.has_resource_properties(
            "AWS::ElastiCache::ReplicationGroup",
            {
                "CacheNodeType": node_type,
                "ReplicationGroupId": group,
                "TransitEncryptionEnabled": True,
            },
        )
        template.has_resource_properties(
            "AWS::SecretsManager::Secret", {"Name": "crm/prod/cache/auth-token"}
        )


def test_replica_lag_alarm_notifies_the_dr_alert_topic(dr: Template, dr_database: Template) -> None:
    dr.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "alerts@example.com"}
    )
    alarm = next(iter(dr_database.find_resources("AWS::CloudWatch::Alarm").values()))
    assert "crm-prod-dr" in str(alarm["Properties"]["AlarmActions"])


def test_replication_encrypts_with_the_dr_key_through_s3_in_the_dr_region(
    primary: Template, prod_settings: Settings
) -> None:
    """The primary stack passes the DR region: otherwise kms:ViaService names the wrong S3."""
    names = Names.of(prod_settings)
    (policy,) = primary.find_resources(
        "AWS::IAM::ManagedPolicy",
        {"Properties": {"Description": Match.string_like_regexp("^S3 replication of")}},
    ).values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    encrypt = statements["EncryptReplicasWithDrKey"]["Condition"]
    assert encrypt["StringEquals"] == {"kms:ViaService": "s3.ap-southeast-1.amazonaws.com"}
    dr_bucket = f"arn:aws:s3:::{names.attachments_bucket_dr}"
    assert encrypt["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [dr_bucket, f"{dr_bucket}/*"]
    }
    decrypt = statements["DecryptSourceObjects"]["Condition"]
    assert decrypt == {"StringEquals": {"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}}
    assert statements["WriteReplicas"]["Resource"] == f"{dr_bucket}/*"


def test_replication_role_is_trusted_by_this_buckets_replication_only(
    primary: Template, prod_settings: Settings
) -> None:
    (role,) = primary.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"Description": Match.string_like_regexp("^S3 replicates attachments")}},
    ).values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": "123456789012",
            "aws:SourceArn": f"arn:aws:s3:::{Names.of(prod_settings).attachments_bucket}",
        }
    }
