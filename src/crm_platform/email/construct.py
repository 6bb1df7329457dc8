"""Twenty's e-mail in one serving region: Amazon SES, verified and observed, and the SMTP
credentials Twenty's tasks log in with.

Each serving region sends on its own, because everything SES needs is regional: the
domain identity and its Easy DKIM records, the sandbox status, the configuration set and
the SMTP credentials ("The credentials that you use to send email through the Amazon SES
SMTP interface are unique to each AWS Region", ses/latest/dg/regions.html). After a
failover the DR region's Twenty sends through the DR region's SES with nothing to switch.

- **Identity**: the public domain (``domain.name``), Easy DKIM with 2048-bit keys; the
  three CNAME records SES returns are written into the platform's hosted zone, so the
  domain verifies itself (DKIM verification verifies the domain identity).
- **Configuration set** (the identity's default, so every message Twenty sends uses it):
  bounces and complaints go to the region's alert topic, delivery requires TLS
  (invitations and password resets carry tokens), reputation metrics are on, and
  bounced or complaining addresses are suppressed.
- **SMTP credentials**: an IAM user that may only ``ses:SendRawEmail`` from the configured
  address through this identity and configuration set, and a Secrets Manager secret
  holding ``{"username", "password"}``, filled and rotated by this region's rotation
  function (runtime/smtp_rotation.py), which also rolls the region's services after each
  rotation. The secret access key itself is stored nowhere.

Sources and what is assumed: docs/decisions.md, "E-mail through Amazon SES".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.functions import FunctionDefaults, OpsFunction
from crm_platform.networking.security_groups import SMTP_SUBMISSION_PORT
from crm_platform.retention import KEEP

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
# The events that reach the alert topic (CloudFormation's lower-case event type names).
NOTIFIED_EVENTS = ("bounce", "complaint")
# What the stack stores until the first rotation replaces it (the rotation function
# recognises no key under it and deletes any stray key of the user).
PLACEHOLDER_USER = "pending-first-rotation"


def smtp_endpoint(region: str) -> str:
    """SES's SMTP interface in ``region`` (general/latest/gr/ses.html, "SMTP endpoints")."""
    return f"email-smtp.{region}.amazonaws.com"


@dataclass(frozen=True)
class SmtpSettings:
    """What Twenty's tasks of one region read to send e-mail.

    The names are Twenty's (``twenty-config/config-variables.ts``); the password and the
    user name (an access key id) reach the task only as ECS secrets, never as plain
    environment.
    """

    host: str
    port: int
    from_address: str
    from_name: str
    system_address: str
    credentials: sm.ISecret  # JSON: username (the access key id), password (SMTP password)

    def environment(self) -> dict[str, str]:
        return {
            # Twenty casts the value to upper snake case (EmailDriver.SMTP = "SMTP"); older
            # releases compared it with a lower-case "smtp": this spelling fits both.
            "EMAIL_DRIVER": "smtp",
            "EMAIL_SMTP_HOST": self.host,
            "EMAIL_SMTP_PORT": str(self.port),
            "EMAIL_FROM_ADDRESS": self.from_address,
            "EMAIL_FROM_NAME": self.from_name,
            "EMAIL_SYSTEM_ADDRESS": self.system_address,
        }

    def task_secrets(self) -> dict[str, ecs.Secret]:
        return {
            "EMAIL_SMTP_USER": ecs.Secret.from_secrets_manager(self.credentials, "username"),
            "EMAIL_SMTP_PASSWORD": ecs.Secret.from_secrets_manager(self.credentials, "password"),
        }

    def read_statement(self) -> iam.PolicyStatement:
        """What an ECS execution role needs to hand the credentials to a task."""
        secret = self.credentials
        return iam.PolicyStatement(
            sid="ReadSmtpCredentials",
            actions=["secretsmanager:GetSecretValue"],
            # A secret imported by name has no full ARN; match its six-character suffix.
            resources=[secret.secret_full_arn or f"{secret.secret_arn}-??????"],
        )


@dataclass(frozen=True)
class EmailNames:
    """The names one region's e-mail resources are built under (naming.py)."""

    configuration_set: str
    smtp_secret: str
    smtp_user: str
    senders_group: str


@dataclass(frozen=True)
class Sender:
    """Who the messages are from, and who Twenty copies on its system notices."""

    domain: str  # the SES domain identity (domain.name)
    from_address: str  # on ``domain``
    from_name: str
    system_address: str


@dataclass(frozen=True)
class RollTarget:
    """The region's services, rolled after a rotation so new tasks read the new password."""

    cluster: str
    services: tuple[str, ...]
    family_prefix: str  # the platform's task definition families start with this


class OutboundEmail(Construct):
    """SES in this region for ``sender``; ``smtp`` is what Twenty's tasks are given."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: EmailNames,
        sender: Sender,
        zone_id: str,
        key: kms.IKey,
        alerts: sns.ITopic,
        functions: FunctionDefaults,
        rotation_days: int,
        roll: RollTarget,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        region, account = stack.region, stack.account
        configuration_set_arn = (
            f"arn:aws:ses:{region}:{account}:configuration-set/{names.configuration_set}"
        )
        identity_arn = f"arn:aws:ses:{region}:{account}:identity/{sender.domain}"

        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            configuration_set_name=names.configuration_set,
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
            # Invitations and password resets carry tokens: never delivered in clear.
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
        )
        self._notify(
            names.configuration_set, configuration_set_arn, key=key, alerts=alerts, account=account
        )
        self.identity = ses.EmailIdentity(
            self,
            "Identity",
            identity=ses.Identity.domain(sender.domain),
            configuration_set=self.configuration_set,
            dkim_identity=ses.DkimIdentity.easy_dkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
            dkim_signing=True,
        )
        # Easy DKIM: three CNAMEs per region ("You have to perform the Easy DKIM setup
        # process for each Region", regions.html); the names differ per region.
        self.dkim_records = [
            route53.CfnRecordSet(
                self,
                f"Dkim{i}",
                hosted_zone_id=zone_id,
                name=record.name,
                type="CNAME",
                resource_records=[record.value],
                ttl="1800",
            )
            for i, record in enumerate(self.identity.dkim_records, start=1)
        ]
        user = self._smtp_user(names, sender.from_address, identity_arn, configuration_set_arn)
        self.credentials = sm.Secret(
            self,
            "SmtpCredentials",
            secret_name=names.smtp_secret,
            description=(
                f"SES SMTP credentials of {names.smtp_user} for {region} (rotated by "
                "its rotation function; the first rotation replaces this placeholder)"
            ),
            encryption_key=key,
            removal_policy=KEEP,
            generate_secret_string=sm.SecretStringGenerator(
                secret_string_template=json.dumps({"username": PLACEHOLDER_USER}),
                generate_string_key="password",
                exclude_punctuation=True,
            ),
        )
        self.rotation_schedule = self._rotation(
            names=names,
            user=user,
            functions=functions,
            rotation_days=rotation_days,
            roll=roll,
        )
        self.smtp = SmtpSettings(
            host=smtp_endpoint(region),
            port=SMTP_SUBMISSION_PORT,
            from_address=sender.from_address,
            from_name=sender.from_name,
            system_address=sender.system_address,
            credentials=self.credentials,
        )

    def _notify(
        self,
        configuration_set: str,
        configuration_set_arn: str,
        *,
        key: kms.IKey,
        alerts: sns.ITopic,
        account: str,
    ) -> None:
        """Bounces and complaints to the alert topic, which is encrypted with ``key``."""
        # The topic policy AWS documents for an SNS event destination
        # (event-publishing-add-event-destination-sns.html), with a name of its own.
        published = alerts.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SesPublishesBouncesAndComplaints",
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[alerts.topic_arn],
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        "aws:SourceArn": configuration_set_arn,
                    }
                },
            )
        )
        # An encrypted topic needs its publisher in the key policy ("add the following
        # statement to the KMS policy", sns/latest/dg/sns-key-management.html). Named, so
        # the region key keeps it (security/key.py refuses unnamed statements).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SesPublishesToEncryptedTopics",
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        self.event_destination = ses.CfnConfigurationSetEventDestination(
            self,
            "BouncesAndComplaints",
            configuration_set_name=configuration_set,
            event_destination=ses.CfnConfigurationSetEventDestination.EventDestinationProperty(
                name="bounces-and-complaints-to-alerts",
                enabled=True,
                matching_event_types=list(NOTIFIED_EVENTS),
                sns_destination=ses.CfnConfigurationSetEventDestination.SnsDestinationProperty(
                    topic_arn=alerts.topic_arn
                ),
            ),
        )
        self.event_destination.node.add_dependency(self.configuration_set)
        if published.policy_dependable is not None:
            self.event_destination.node.add_dependency(published.policy_dependable)

    def _smtp_user(
        self,
        names: EmailNames,
        from_address: str,
        identity_arn: str,
        configuration_set_arn: str,
    ) -> iam.User:
        """An IAM user that can send from ``from_address`` through this identity, nothing
        else; its permissions come from a group's managed policy, none are its own."""
        group = iam.Group(self, "Senders", group_name=names.senders_group)
        policy = iam.ManagedPolicy(
            self,
            "SendPolicy",
            description=(
                f"SES SMTP: send as {from_address} through this region's identity and "
                "configuration set, nothing else"
            ),
            groups=[group],
            statements=[
                iam.PolicyStatement(
                    sid="SendAsTheConfiguredSender",
                    # The SMTP interface authorizes SendRawEmail ("If the IAM user will be
                    # using the SMTP interface, you must allow access to ses:SendRawEmail
                    # at a minimum", control-user-access.html).
                    actions=["ses:SendRawEmail"],
                    # Its resource types: identity (required) and configuration-set.
                    resources=[identity_arn, configuration_set_arn],
                    conditions={"StringEquals": {"ses:FromAddress": from_address}},
                )
            ],
        )
        # An IAM user because SES refuses SMTP passwords derived from temporary
        # credentials (smtp-credentials.html); no gate flags it (cdk-nag's NIST rules on
        # users want exactly this: group membership, no policy of its own, none inline).
        user = iam.User(self, "SmtpUser", user_name=names.smtp_user, groups=[group])
        user.node.add_dependency(policy)
        return user

    def _rotation(
        self,
        *,
        names: EmailNames,
        user: iam.User,
        functions: FunctionDefaults,
        rotation_days: int,
        roll: RollTarget,
    ) -> sm.CfnRotationSchedule:
        """The rotation function, its invocation by Secrets Manager and the schedule.

        The schedule rotates at once when it is created ("By default, Secrets Manager
        rotates the secret immediately", RotateSecret), which fills the placeholder.
        """
        stack = cdk.Stack.of(self)
        region, account = stack.region, stack.account
        secret_arn = self.credentials.secret_arn
        service_arns = [
            f"arn:aws:ecs:{region}:{account}:service/{roll.cluster}/{service}"
            for service in roll.services
        ]
        rotation = OpsFunction(
            self,
            "Rotation",
            code=RUNTIME_DIR,
            handler="smtp_rotation.handler",
            description=f"Rotates the SES SMTP credentials of {names.smtp_user}",
            defaults=functions,
            environment={
                "SMTP_REGION": region,
                "SMTP_USER": names.smtp_user,
                "CLUSTER": roll.cluster,
                "SERVICES": json.dumps(list(roll.services)),
            },
            # The login test waits for IAM to accept a new key (up to 8 tries, 5 s apart).
            timeout_seconds=120,
            statements=[
                iam.PolicyStatement(
                    sid="RotateTheSmtpSecret",
                    actions=[
                        "secretsmanager:DescribeSecret",
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:PutSecretValue",
                        "secretsmanager:UpdateSecretVersionStage",
                    ],
                    resources=[secret_arn],
                ),
                iam.PolicyStatement(
                    sid="ReplaceTheSmtpUsersKey",
                    actions=["iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"],
                    # By name: the user is named, and a name reads the same in every tool.
                    resources=[f"arn:aws:iam::{account}:user/{names.smtp_user}"],
                ),
                iam.PolicyStatement(
                    sid="RollThisRegionsServices",
                    actions=["ecs:UpdateService"],
                    resources=service_arns,
                    # A roll only forces a new deployment: it may not switch to a task
                    # definition of another family or turn on ECS Exec.
                    conditions={
                        "ArnLikeIfExists": {
                            "ecs:task-definition": (
                                f"arn:aws:ecs:{region}:{account}:task-definition/"
                                f"{roll.family_prefix}*:*"
                            )
                        },
                        "BoolIfExists": {"ecs:enable-execute-command": "false"},
                    },
                ),
            ],
        )
        invoke = lambda_.CfnPermission(
            self,
            "SecretsManagerRotates",
            action="lambda:InvokeFunction",
            function_name=rotation.function.function_arn,
            principal="secretsmanager.amazonaws.com",
            # Secrets Manager recommends aws:SourceAccount only for rotation functions
            # (rotate-secrets_turn-on-for-other.html, step 3).
            source_account=account,
        )
        schedule = sm.CfnRotationSchedule(
            self,
            "RotationSchedule",
            secret_id=secret_arn,
            rotation_lambda_arn=rotation.function.function_arn,
            rotation_rules=sm.CfnRotationSchedule.RotationRulesProperty(
                automatically_after_days=rotation_days
            ),
            rotate_immediately_on_update=True,
        )
        # The function's own policy (functions.py) lets it use the region key, which
        # encrypts the secret; Secrets Manager calls it only once it may.
        schedule.node.add_dependency(invoke, user, rotation.policy)
        return schedule
