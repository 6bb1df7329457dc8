"""E-mail through Amazon SES in both serving regions (issue 18, item 8).

What would have failed before: no identity, no DKIM record, no bounce or complaint ever
reported, no EMAIL_* setting (Twenty only logged its mail), no SMTP credentials, no way
out on 587. Each region is checked as synthesized, and the authorization model decides
what AWS would allow: SES publishing to the encrypted alert topic, the rotation's calls,
the execution roles handing the credentials over, and what the SMTP user may do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from botocore.exceptions import ClientError

from crm_platform.authz.chains import service_chains
from crm_platform.authz.model import AuthorizationModel, Request
from crm_platform.authz.paths import evaluate
from crm_platform.authz.simulator import simulator
from crm_platform.email import construct
from crm_platform.email import permissions as email_needs
from crm_platform.email.runtime import smtp_rotation
from crm_platform.naming import Names
from crm_platform.settings import Settings
from crm_platform.settings.model import OutboundEmail
from crm_platform.toolchain.synth import synthesize
from tests.conftest import Assembly

ACCOUNT = "123456789012"
# (foundation stack, application stack, region) of each serving region
REGIONS = [
    ("crm-prod-primary", "crm-prod-primary", "ap-northeast-1"),
    ("crm-prod-dr", "crm-prod-dr-app", "ap-southeast-1"),
]
EMAIL_ENV = {
    "EMAIL_DRIVER", "EMAIL_SMTP_HOST", "EMAIL_SMTP_PORT", "EMAIL_FROM_ADDRESS",
    "EMAIL_FROM_NAME", "EMAIL_SYSTEM_ADDRESS",
}  # fmt: skip


@pytest.fixture(scope="module")
def model(assembly: Assembly) -> AuthorizationModel:
    return AuthorizationModel.load(assembly.outdir)


def of_type(raw: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in raw["Resources"].items() if r["Type"] == kind}


def one(raw: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = of_type(raw, kind).items()
    return found


def alert_topic(raw: dict[str, Any]) -> str:
    """The logical id of the region's alert topic (the encrypted topic with alert mail)."""
    (topic,) = [
        k
        for k, r in of_type(raw, "AWS::SNS::Topic").items()
        if r["Properties"].get("DisplayName") == "crm-platform alerts"
    ]
    return topic


# --- the identity and its DKIM records --------------------------------------------------------
@pytest.mark.parametrize(("stack", "_app", "region"), REGIONS)
def test_each_region_verifies_the_domain_with_easy_dkim_records_in_the_zone(
    stack: str, _app: str, region: str, assembly: Assembly, prod_settings: Settings
) -> None:
    raw = assembly.raw(stack)
    identity_id, identity = one(raw, "AWS::SES::EmailIdentity")
    props = identity["Properties"]
    assert props["EmailIdentity"] == prod_settings.domain.name
    assert props["DkimAttributes"] == {"SigningEnabled": True}
    assert props["DkimSigningAttributes"] == {"NextSigningKeyLength": "RSA_2048_BIT"}
    config_set_id, _ = one(raw, "AWS::SES::ConfigurationSet")
    assert props["ConfigurationSetAttributes"] == {"ConfigurationSetName": {"Ref": config_set_id}}
    records = [
        r["Properties"]
        for r in of_type(raw, "AWS::Route53::RecordSet").values()
        if r["Properties"]["Type"] == "CNAME"
    ]
    assert sorted(json.dumps(r["Name"]) for r in records) == sorted(
        json.dumps({"Fn::GetAtt": [identity_id, f"DkimDNSTokenName{i}"]}) for i in (1, 2, 3)
    )
    for i in (1, 2, 3):
        (record,) = [r for r in records if r["Name"]["Fn::GetAtt"][1] == f"DkimDNSTokenName{i}"]
        assert record["HostedZoneId"] == prod_settings.domain.hosted_zone_id
        assert record["ResourceRecords"] == [{"Fn::GetAtt": [identity_id, f"DkimDNSTokenValue{i}"]}]


# --- bounces and complaints reach the alert topic ---------------------------------------------
@pytest.mark.parametrize(("stack", "_app", "region"), REGIONS)
def test_the_configuration_set_sends_bounces_and_complaints_to_the_alert_topic(
    stack: str, _app: str, region: str, assembly: Assembly
) -> None:
    raw = assembly.raw(stack)
    _, config_set = one(raw, "AWS::SES::ConfigurationSet")
    assert config_set["Properties"]["Name"] == "crm-prod-email"
    assert config_set["Properties"]["DeliveryOptions"] == {"TlsPolicy": "REQUIRE"}
    _, destination = one(raw, "AWS::SES::ConfigurationSetEventDestination")
    props = destination["Properties"]
    assert props["ConfigurationSetName"] == "crm-prod-email"
    target = props["EventDestination"]
    assert target["Enabled"] is True
    assert sorted(target["MatchingEventTypes"]) == ["bounce", "complaint"]
    assert target["SnsDestination"] == {"TopicARN": {"Ref": alert_topic(raw)}}
    # The topic policy lets exactly this configuration set publish (AWS's documented policy).
    topic_policy = Template.from_json(raw).find_resources("AWS::SNS::TopicPolicy")
    statements = [
        s for p in topic_policy.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (ses,) = [s for s in statements if s.get("Sid") == "SesPublishesBouncesAndComplaints"]
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    assert ses["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": f"arn:aws:ses:{region}:{ACCOUNT}:configuration-set/crm-prod-email",
    }


@pytest.mark.parametrize("region", ["ap-northeast-1", "ap-southeast-1"])
def test_ses_may_publish_to_the_encrypted_alert_topic(
    region: str, model: AuthorizationModel
) -> None:
    """The topic policy and the region key both allow it, as AWS decides (the key first)."""
    stack = "crm-prod-primary" if region == "ap-northeast-1" else "crm-prod-dr"
    checks = [
        c
        for c in service_chains(model)
        if c.resource.label == f"{stack}/Alerts/Topic"
        and c.decision.request.principal.arn == "ses.amazonaws.com"
    ]
    assert {c.decision.request.action for c in checks} == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert [c.describe() for c in checks if not c.ok] == []
    topic = model.physical.arn(alert_topic(model.stacks[stack].template), model.stacks[stack])
    context = {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": f"arn:aws:ses:{region}:{ACCOUNT}:configuration-set/crm-prod-email",
    }
    ses = model.service("ses.amazonaws.com")
    assert model.decide(Request.of(ses, "sns:Publish", topic, context)).allowed
    other = context | {"aws:SourceArn": f"arn:aws:ses:{region}:{ACCOUNT}:configuration-set/x"}
    assert not model.decide(Request.of(ses, "sns:Publish", topic, other)).allowed


# --- Twenty's settings: EMAIL_*, the password only as a secret ---------------------------------
# The task definitions that run Twenty itself (a one-off database bootstrap sends nothing).
TWENTY_FAMILIES = {f"crm-prod-{role}" for role in ("server", "worker", "migrate", "jobs")}


def twenty_tasks(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: r
        for k, r in of_type(raw, "AWS::ECS::TaskDefinition").items()
        if r["Properties"]["Family"] in TWENTY_FAMILIES
    }


def containers(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for r in twenty_tasks(raw).values()
        for c in r["Properties"]["ContainerDefinitions"]
        if c["Name"] != "prepare-tmp"
    ]


@pytest.mark.parametrize(("stack", "app", "region"), REGIONS)
def test_the_tasks_get_the_email_settings_with_the_password_as_a_secret(
    stack: str, app: str, region: str, assembly: Assembly, prod_settings: Settings
) -> None:
    raw = assembly.raw(app)
    found = containers(raw)
    assert {c["Name"] for c in found} >= {"server", "worker"}
    for c in found:
        env = {e["Name"]: e["Value"] for e in c["Environment"]}
        assert set(env) >= EMAIL_ENV, c["Name"]
        assert env["EMAIL_DRIVER"] == "smtp"  # Twenty casts it to its enum value SMTP
        assert env["EMAIL_SMTP_HOST"] == f"email-smtp.{region}.amazonaws.com"
        assert env["EMAIL_SMTP_PORT"] == "587"
        assert env["EMAIL_FROM_ADDRESS"] == "noreply@crm.example.com"
        assert env["EMAIL_FROM_NAME"] == prod_settings.email.from_name == "CRM"
        assert env["EMAIL_SYSTEM_ADDRESS"] == "alerts@example.com"
        assert "EMAIL_SMTP_PASSWORD" not in env and "EMAIL_SMTP_USER" not in env
        assert "EMAIL_SMTP_NO_TLS" not in env  # Twenty's default: TLS
        secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in c["Secrets"]}
        for name, field in (("EMAIL_SMTP_USER", "username"), ("EMAIL_SMTP_PASSWORD", "password")):
            assert secrets[name].endswith(f':{field}::"]]}}'), secrets[name]
    # The region's own secret: the DR tier reads the DR foundation's, never the primary's.
    (read,) = [
        s
        for p in of_type(raw, "AWS::IAM::ManagedPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ReadSmtpCredentials"
    ]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    resource = json.dumps(read["Resource"])
    assert "EmailSmtpCredentials" in resource
    assert app == stack or f'"StackName": "{stack}", "Region": "{region}"' in resource


@pytest.mark.parametrize(("stack", "app", "region"), REGIONS)
def test_the_credentials_are_the_regions_own_generated_rotating_secret(
    stack: str, app: str, region: str, assembly: Assembly
) -> None:
    raw = assembly.raw(stack)
    (secret_id,) = [
        k
        for k, r in of_type(raw, "AWS::SecretsManager::Secret").items()
        if r["Properties"].get("Name") == "crm/prod/email/smtp"
    ]
    props = raw["Resources"][secret_id]["Properties"]
    assert "SecretString" not in props  # never a value in the template (docs/adr/0004)
    assert json.loads(props["GenerateSecretString"]["SecretStringTemplate"]) == {
        "username": construct.PLACEHOLDER_USER
    }
    assert "ReplicaRegions" not in props  # each region's credentials work only there
    (schedule,) = [
        r
        for r in of_type(raw, "AWS::SecretsManager::RotationSchedule").values()
        if r["Properties"]["SecretId"] == {"Ref": secret_id}
    ]
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is True
    assert schedule["Properties"]["RotationRules"] == {"AutomaticallyAfterDays": 90}
    function = schedule["Properties"]["RotationLambdaARN"]["Fn::GetAtt"][0]
    env = raw["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert env["SMTP_REGION"] == region
    assert env["SMTP_USER"] == f"crm-prod-smtp-{region}"
    assert raw["Resources"][function]["Properties"]["Handler"] == email_needs.ROTATION_HANDLER
    if app == stack:  # the deploy's tasks start after the first rotation began
        schedule_id = next(k for k, r in raw["Resources"].items() if r is schedule)
        for task_id in twenty_tasks(raw):
            assert schedule_id in raw["Resources"][task_id].get("DependsOn", []), task_id
    (permission,) = [
        r["Properties"]
        for r in of_type(raw, "AWS::Lambda::Permission").values()
        if r["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    ]
    assert permission["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]}
    assert permission["SourceAccount"] == ACCOUNT


def test_execution_roles_read_the_smtp_secret_and_the_rotation_may_do_its_work(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    needs = [*email_needs.needs(names), *email_needs.execution_needs(names)]
    assert [v.describe() for v in evaluate(model, needs) if not v.ok] == []
    # finishSecret's call, which the request table does not map: decided here.
    for stack, region in (
        ("crm-prod-primary", "ap-northeast-1"),
        ("crm-prod-dr", "ap-southeast-1"),
    ):
        role = model.role_of_function(stack, email_needs.ROTATION_HANDLER)
        secret = model.secret_arn(names.smtp_secret, region)
        assert model.decide(
            Request.of(role, "secretsmanager:UpdateSecretVersionStage", secret)
        ).allowed
        # ... and nothing beyond its own user and secret.
        other_user = f"arn:aws:iam::{ACCOUNT}:user/someone-else"
        assert not model.decide(Request.of(role, "iam:CreateAccessKey", other_user)).allowed
        db = model.secret_arn(names.db_secret, region)
        assert not model.decide(Request.of(role, "secretsmanager:GetSecretValue", db)).allowed


# --- the way out --------------------------------------------------------------------------------
@pytest.mark.parametrize(("stack", "_app", "_region"), REGIONS)
def test_the_task_security_group_allows_smtp_submission_out(
    stack: str, _app: str, _region: str, assembly: Assembly
) -> None:
    raw = assembly.raw(stack)
    (tasks,) = [
        r
        for r in of_type(raw, "AWS::EC2::SecurityGroup").values()
        if r["Properties"]["GroupDescription"] == "Twenty server and worker tasks"
    ]
    egress = tasks["Properties"]["SecurityGroupEgress"]
    assert {
        "CidrIp": "0.0.0.0/0",
        "Description": "SMTP submission (STARTTLS) to Amazon SES via NAT",
        "FromPort": 587,
        "IpProtocol": "tcp",
        "ToPort": 587,
    } in egress


# --- the SMTP user can send, and nothing else -------------------------------------------------
def user_policy(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    (user_id, user), (group_id, _group) = (
        one(raw, "AWS::IAM::User"),
        one(raw, "AWS::IAM::Group"),
    )
    (policy,) = [
        r["Properties"]
        for r in of_type(raw, "AWS::IAM::ManagedPolicy").values()
        if r["Properties"].get("Groups") == [{"Ref": group_id}]
    ]
    del user_id
    return user["Properties"], policy


def ask_as_user(
    policy: dict[str, Any], user: str, action: str, resource: str, context: dict[str, Any]
) -> bool:
    """The IAM evaluator's answer for the SMTP user (the model holds roles only)."""
    answer = simulator().ask(
        {
            "request": {
                "principal": user,
                "action": action,
                "resource": {"resource": resource, "accountId": ACCOUNT},
                "contextVariables": {"aws:SecureTransport": "true", **context},
            },
            "identityPolicies": [{"name": "SendPolicy", "policy": policy}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
    )
    return answer.allowed


@pytest.mark.parametrize(("stack", "_app", "region"), REGIONS)
def test_the_smtp_user_can_only_send_as_the_configured_address(
    stack: str, _app: str, region: str, assembly: Assembly
) -> None:
    user, policy = user_policy(assembly.raw(stack))
    assert user["UserName"] == f"crm-prod-smtp-{region}"
    assert "Policies" not in user and "ManagedPolicyArns" not in user  # nothing of its own
    assert of_type(assembly.raw(stack), "AWS::IAM::AccessKey") == {}  # no key in the template
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ses:SendRawEmail"
    arn = f"arn:aws:iam::{ACCOUNT}:user/{user['UserName']}"
    identity = f"arn:aws:ses:{region}:{ACCOUNT}:identity/crm.example.com"
    config_set = f"arn:aws:ses:{region}:{ACCOUNT}:configuration-set/crm-prod-email"
    sender = {"ses:FromAddress": "noreply@crm.example.com"}
    document = policy["PolicyDocument"]
    assert ask_as_user(document, arn, "ses:SendRawEmail", identity, sender)
    assert ask_as_user(document, arn, "ses:SendRawEmail", config_set, sender)
    refused = [
        ("ses:SendRawEmail", identity, {"ses:FromAddress": "ceo@crm.example.com"}),
        ("ses:SendRawEmail", f"arn:aws:ses:{region}:{ACCOUNT}:identity/other.com", sender),
        ("ses:SendEmail", identity, sender),
        ("ses:CreateEmailIdentity", identity, {}),
        ("iam:CreateAccessKey", arn, {}),
        (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:x",
            {},
        ),
    ]
    for action, resource, context in refused:
        assert not ask_as_user(document, arn, action, resource, context), (action, resource)


# --- configuration: default on, on the domain, off leaves no trace -------------------------
def test_email_defaults_to_on_with_a_sender_on_the_configured_domain() -> None:
    email = OutboundEmail()
    assert email.enabled and email.from_local_part == "noreply"
    assert email.credentials_rotation_days == 90
    for bad in ({"from_local_part": "a@b"}, {"from_name": 'Evil" <x@y>'}, {"from_local_part": ""}):
        with pytest.raises(ValueError):
            OutboundEmail(**bad)  # type: ignore[arg-type]


def test_staging_sends_from_its_own_domain(staging_assembly: Assembly) -> None:
    raw = staging_assembly.raw("crm-staging-dr")
    _, identity = one(raw, "AWS::SES::EmailIdentity")
    assert identity["Properties"]["EmailIdentity"] == "staging.crm.example.com"
    user, _ = user_policy(raw)
    assert user["UserName"] == "crm-staging-smtp-ap-southeast-1"


def test_email_off_leaves_no_ses_no_credentials_and_no_smtp_egress(
    prod_settings: Settings, tmp_path: Path
) -> None:
    settings = prod_settings.model_copy(
        update={"email": prod_settings.email.model_copy(update={"enabled": False})}
    )
    result = synthesize(settings, tmp_path / "cdk.out")
    assert result.ok, result.findings
    for stack in ("crm-prod-primary", "crm-prod-dr", "crm-prod-dr-app"):
        text = (tmp_path / "cdk.out" / f"{stack}.template.json").read_text()
        raw = json.loads(text)
        assert not [r for r in raw["Resources"].values() if r["Type"].startswith("AWS::SES::")]
        assert "EMAIL_" not in text and "ses.amazonaws.com" not in text
        assert of_type(raw, "AWS::IAM::User") == {}
        groups = of_type(raw, "AWS::EC2::SecurityGroup").values()
        ports = {
            e.get("FromPort")
            for g in groups
            for e in g["Properties"].get("SecurityGroupEgress", [])
        }
        assert 587 not in ports


# --- the rotation function ------------------------------------------------------------------------
def aws_documented_password(key: str, region: str) -> str:
    """AWS's pseudocode, step by step (ses/latest/dg/smtp-credentials.html)."""

    def hmac_sha256(data: str, key_bytes: bytes) -> bytes:
        return hmac.new(key_bytes, data.encode("utf-8"), hashlib.sha256).digest()

    k_date = hmac_sha256("11111111", ("AWS4" + key).encode("utf-8"))
    k_region = hmac_sha256(region, k_date)
    k_service = hmac_sha256("ses", k_region)
    k_terminal = hmac_sha256("aws4_request", k_service)
    k_message = hmac_sha256("SendRawEmail", k_terminal)
    return base64.b64encode(bytes([0x04]) + k_message).decode("utf-8")


def test_the_smtp_password_is_aws_derivation_per_region() -> None:
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example key
    tokyo = smtp_rotation.smtp_password(key, "ap-northeast-1")
    assert tokyo == aws_documented_password(key, "ap-northeast-1")
    assert base64.b64decode(tokyo)[0] == 0x04 and len(base64.b64decode(tokyo)) == 33
    assert tokyo != smtp_rotation.smtp_password(key, "ap-southeast-1")  # per region
    # The construct and the Lambda copy agree on what they share.
    assert construct.smtp_endpoint("ap-southeast-1") == smtp_rotation.smtp_endpoint(
        "ap-southeast-1"
    )
    assert construct.PLACEHOLDER_USER == smtp_rotation.PLACEHOLDER_USER


CHECK_SECRET = smtp_rotation.check_secret  # the real one, before any test wraps it


class FakeSecrets:
    """Secrets Manager as a rotation sees it: versions with staging labels."""

    def __init__(self, current: dict[str, str]) -> None:
        self.values = {"v0": json.dumps(current)}
        self.stages: dict[str, list[str]] = {"v0": ["AWSCURRENT"]}

    def start(self, token: str) -> None:  # what RotateSecret does before invoking
        self.stages[token] = ["AWSPENDING"]

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        return {"RotationEnabled": True, "VersionIdsToStages": dict(self.stages)}

    def get_secret_value(
        self, SecretId: str, VersionStage: str, VersionId: str | None = None
    ) -> dict[str, Any]:
        for version, stages in self.stages.items():
            if (VersionId in (None, version)) and VersionStage in stages and version in self.values:
                return {"SecretString": self.values[version]}
        raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetSecretValue")

    def put_secret_value(
        self, SecretId: str, ClientRequestToken: str, SecretString: str, VersionStages: list[str]
    ) -> None:
        self.values[ClientRequestToken] = SecretString
        self.stages[ClientRequestToken] = list(VersionStages)

    def update_secret_version_stage(
        self, SecretId: str, VersionStage: str, MoveToVersionId: str, RemoveFromVersionId: str
    ) -> None:
        self.stages[RemoveFromVersionId] = ["AWSPREVIOUS"]
        self.stages[MoveToVersionId] = [VersionStage]

    def current(self) -> dict[str, str]:
        return dict(
            json.loads(
                self.get_secret_value(SecretId="s", VersionStage="AWSCURRENT")["SecretString"]
            )
        )


class FakeIam:
    def __init__(self, keys: list[str]) -> None:
        self.keys = list(keys)
        self.made = 0
        self.secret_keys: dict[str, str] = {}

    def list_access_keys(self, UserName: str) -> dict[str, Any]:
        return {"AccessKeyMetadata": [{"AccessKeyId": k} for k in self.keys]}

    def delete_access_key(self, UserName: str, AccessKeyId: str) -> None:
        self.keys.remove(AccessKeyId)

    def create_access_key(self, UserName: str) -> dict[str, Any]:
        assert len(self.keys) < 2, "IAM allows two keys per user"
        self.made += 1
        key_id, secret = f"AKIANEW{self.made}", f"secret-access-key-{self.made}"
        self.keys.append(key_id)
        self.secret_keys[key_id] = secret
        return {"AccessKey": {"AccessKeyId": key_id, "SecretAccessKey": secret}}


class FakeEcs:
    def __init__(self, absent: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.rolled: list[str] = []
        self.absent = absent

    def update_service(self, cluster: str, service: str, forceNewDeployment: bool) -> None:
        if service in self.absent:
            raise ClientError({"Error": {"Code": "ServiceNotFoundException"}}, "UpdateService")
        self.rolled.append(service)


class FakeSmtp:
    """An SMTP endpoint that refuses the first ``refusals`` logins (IAM propagation)."""

    def __init__(self, accepted: dict[str, str], refusals: int = 0) -> None:
        self.accepted, self.refusals, self.logins = accepted, refusals, 0
        self.tls = False

    def __call__(self, host: str, port: int) -> FakeSmtp:
        assert (host, port) == ("email-smtp.ap-northeast-1.amazonaws.com", 587)
        return self

    def __enter__(self) -> FakeSmtp:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def ehlo(self) -> None:
        return None

    def starttls(self, context: object) -> None:
        self.tls = True

    def login(self, user: str, password: str) -> None:
        assert self.tls, "credentials only after STARTTLS"
        self.logins += 1
        if self.logins <= self.refusals or self.accepted.get(user) != password:
            raise smtplib.SMTPAuthenticationError(535, b"Authentication Credentials Invalid")


def rotate(
    monkeypatch: pytest.MonkeyPatch,
    secrets: FakeSecrets,
    iam: FakeIam,
    ecs: FakeEcs,
    smtp: FakeSmtp,
    token: str,
) -> list[dict[str, Any]]:
    monkeypatch.setenv("SMTP_REGION", "ap-northeast-1")
    monkeypatch.setenv("SMTP_USER", "crm-prod-smtp-ap-northeast-1")
    monkeypatch.setenv("CLUSTER", "crm-prod-cluster")
    monkeypatch.setenv("SERVICES", json.dumps(["crm-prod-server", "crm-prod-worker"]))
    clients = {"secretsmanager": secrets, "iam": iam, "ecs": ecs}
    monkeypatch.setattr(smtp_rotation.boto3, "client", lambda name: clients[name])

    def check(*args: Any, **kwargs: Any) -> None:
        CHECK_SECRET(*args, **kwargs, connect=smtp, sleep=lambda _s: None)

    monkeypatch.setattr(smtp_rotation, "check_secret", check)
    secrets.start(token)
    event = {"SecretId": "crm/prod/email/smtp", "ClientRequestToken": token}
    return [
        smtp_rotation.handler(event | {"Step": step}, None)
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret")
    ]


def test_a_rotation_replaces_the_key_stores_only_the_password_and_rolls(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # The first rotation: the stack's placeholder, and a stray key left by a failed attempt.
    secrets = FakeSecrets({"username": "pending-first-rotation", "password": "generated"})
    iam = FakeIam(["AKIASTRAY"])
    ecs = FakeEcs()
    smtp = FakeSmtp({}, refusals=2)
    accepted: dict[str, str] = {}
    smtp.accepted = accepted

    def remember(user: str, key: str) -> None:
        accepted[user] = smtp_rotation.smtp_password(key, "ap-northeast-1")

    original = iam.create_access_key

    def create(UserName: str) -> dict[str, Any]:
        made = original(UserName)
        remember(made["AccessKey"]["AccessKeyId"], made["AccessKey"]["SecretAccessKey"])
        return made

    iam.create_access_key = create  # type: ignore[method-assign]
    results = rotate(monkeypatch, secrets, iam, ecs, smtp, "t1")
    assert iam.keys == ["AKIANEW1"]  # the stray key is gone
    current = secrets.current()
    assert set(current) == {"username", "password"}  # no secret access key stored
    assert current["username"] == "AKIANEW1"
    assert current["password"] == smtp_rotation.smtp_password(
        "secret-access-key-1", "ap-northeast-1"
    )
    assert smtp.logins == 3  # refused twice while IAM propagated, then accepted
    assert results[-1]["rolled"] == []  # the first credentials: the deploy's tasks follow
    assert ecs.rolled == []
    logged = caplog.text
    assert "secret-access-key-1" not in logged and current["password"] not in logged

    # The next rotation keeps the current key until the new one is current, then the
    # retired one goes at the rotation after (tasks not yet rolled keep sending).
    ecs2 = FakeEcs(absent={"crm-prod-worker"})  # a service not deployed: skipped, not failed
    results = rotate(monkeypatch, secrets, iam, ecs2, smtp, "t2")
    assert iam.keys == ["AKIANEW1", "AKIANEW2"]
    assert secrets.current()["username"] == "AKIANEW2"
    assert results[-1]["rolled"] == ["crm-prod-cluster/crm-prod-server"]
    rotate(monkeypatch, secrets, iam, FakeEcs(), smtp, "t3")
    assert iam.keys == ["AKIANEW2", "AKIANEW3"]


def test_a_key_ses_refuses_stops_the_rotation_before_it_becomes_current(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = FakeSecrets({"username": "AKIAOLD", "password": "old"})
    with pytest.raises(RuntimeError, match="refused key AKIANEW1"):
        rotate(monkeypatch, secrets, FakeIam(["AKIAOLD"]), FakeEcs(), FakeSmtp({}), "t1")
    assert secrets.current()["username"] == "AKIAOLD"


def test_a_retried_finish_still_rolls(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = FakeSecrets({"username": "AKIAOLD", "password": "old"})
    secrets.stages = {"v0": ["AWSPREVIOUS"], "t1": ["AWSCURRENT"]}
    secrets.values["t1"] = json.dumps({"username": "AKIANEW", "password": "p"})
    ecs = FakeEcs()
    rolled = smtp_rotation.finish_secret(
        secrets, ecs, secret_id="s", token="t1", cluster="c", services=["a", "b"]
    )
    assert rolled == ["c/a", "c/b"] and secrets.current()["username"] == "AKIANEW"
