"""The rotation the promoted DR database's secret moves to: deployed unused, attached later.

A replica secret cannot carry a rotation schedule (Secrets Manager rotates the primary
secret and replicates the result), so the DR region holds AWS's hosted PostgreSQL
single-user rotation function ready, and the failover's ``own_secrets`` step points the
promoted, now standalone, secret at it.

It is a *part*, not a construct: it adds its resources to the scope it is given, because
they are deployed already under that scope's logical IDs, and a new construct level would
rename them (CloudFormation would replace the function and its security group).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sam as sam
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from crm_platform.networking.security_groups import HTTPS_PORT, POSTGRES_PORT


class DrRotation:
    """``function_arn``: the function AWS's application creates under ``function_name``."""

    def __init__(
        self,
        scope: Construct,
        *,
        function_name: str,
        exclude_characters: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        database: ec2.ISecurityGroup,
    ) -> None:
        stack = cdk.Stack.of(scope)
        group = ec2.SecurityGroup(
            scope,
            "RotationSecurityGroup",
            vpc=vpc,
            description="DR credential rotation (used after a failover)",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "Secrets Manager API")
        group.add_egress_rule(database, ec2.Port.tcp(POSTGRES_PORT), "The DR database")
        ec2.CfnSecurityGroupIngress(
            scope,
            "DatabaseFromRotation",
            group_id=database.security_group_id,
            ip_protocol="tcp",
            from_port=POSTGRES_PORT,
            to_port=POSTGRES_PORT,
            source_security_group_id=group.security_group_id,
            description="DR credential rotation",
        )
        selected = vpc.select_subnets(subnet_group_name=subnets.subnet_group_name)
        app = sm.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER
        sam.CfnApplication(
            scope,
            "Rotation",
            location=sam.CfnApplication.ApplicationLocationProperty(
                application_id=app.application_arn_for_partition("aws"),
                semantic_version=app.semantic_version_for_partition("aws"),
            ),
            parameters={
                "endpoint": f"https://secretsmanager.{stack.region}.{stack.url_suffix}",
                "functionName": function_name,
                "vpcSubnetIds": cdk.Fn.join(",", selected.subnet_ids),
                "vpcSecurityGroupIds": group.security_group_id,
                "excludeCharacters": exclude_characters,
                "kmsKeyArn": key.key_arn,
            },
        )
        self.function_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=function_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
