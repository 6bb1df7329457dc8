"""Rotate one region's SES SMTP credentials: a new IAM access key, its SMTP password.

SES takes SMTP logins whose user name is an IAM access key id and whose password is
derived from the key's secret access key *for one region* (AWS's algorithm below,
https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html, "Obtaining Amazon SES
SMTP credentials by converting existing AWS credentials"). CloudFormation has no
intrinsic that computes an HMAC, so the derivation runs here, as the secret's Secrets
Manager rotation function: the first rotation (when the schedule is created) fills the
placeholder the stack created, and every later one replaces the key.

The four steps Secrets Manager calls (createSecret, setSecret, testSecret, finishSecret,
https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_turn-on-for-other.html):

- createSecret: delete the user's keys other than the one ``AWSCURRENT`` holds (IAM
  allows two per user; the previous one was retired by the last roll), create a key and
  store ``{"username": <key id>, "password": <SMTP password>}`` as ``AWSPENDING``. The
  secret access key itself is never stored or logged: SES needs only the password.
- setSecret: nothing; an IAM key is valid from its creation.
- testSecret: log in to the region's SMTP endpoint with the pending credentials
  (STARTTLS on 587), retrying while IAM propagates the new key.
- finishSecret: move ``AWSCURRENT`` to the new version, then force a new deployment of
  the region's Twenty services, which read the credentials only when a task starts. The
  old key keeps working until the next rotation, so tasks that have not restarted yet
  still send meanwhile.

Runs on the Lambda runtime's own boto3 and standard library; nothing else is packaged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

log = logging.getLogger()
log.setLevel(logging.INFO)

# AWS's constants for the SMTP password ("The values of the following variables should
# always stay the same"): the signature version 4 chain over a fixed date and message.
_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = 0x04

SMTP_PORT = 587
LOGIN_ATTEMPTS = 8  # a new IAM key can take a few seconds before SES accepts it
LOGIN_PAUSE_SECONDS = 5
PLACEHOLDER_USER = "pending-first-rotation"  # what the stack stores before the first rotation
# Errors that mean "nothing to roll here yet" (the compute tier is not deployed yet).
_ABSENT = frozenset(
    {"ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException"}
)


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def smtp_password(secret_access_key: str, region: str) -> str:
    """The SES SMTP password of ``secret_access_key`` in ``region`` (AWS's algorithm)."""
    signature = _sign(f"AWS4{secret_access_key}".encode(), _DATE)
    for part in (region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _sign(signature, part)
    return base64.b64encode(bytes([_VERSION]) + signature).decode("utf-8")


def smtp_endpoint(region: str) -> str:
    """SES's SMTP interface in ``region`` (general/latest/gr/ses.html, SMTP endpoints)."""
    return f"email-smtp.{region}.amazonaws.com"


def _stage_version(versions: dict[str, list[str]], stage: str) -> str | None:
    return next((v for v, stages in versions.items() if stage in stages), None)


def create_secret(
    secrets: Any, iam: Any, *, secret_id: str, token: str, user: str, region: str
) -> None:
    """Store a new key's credentials as AWSPENDING (once per rotation token)."""
    try:
        secrets.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
        log.info("createSecret: %s already holds the pending version", secret_id)
        return
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    current = json.loads(
        secrets.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
    )
    keep = current.get("username")
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        if key["AccessKeyId"] != keep:
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
            log.info("createSecret: deleted the retired key %s of %s", key["AccessKeyId"], user)
    made = iam.create_access_key(UserName=user)["AccessKey"]
    value = {
        "username": made["AccessKeyId"],
        "password": smtp_password(made["SecretAccessKey"], region),
    }
    secrets.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=json.dumps(value),
        VersionStages=["AWSPENDING"],
    )
    log.info("createSecret: new key %s of %s stored as AWSPENDING", made["AccessKeyId"], user)


def check_secret(
    secrets: Any,
    *,
    secret_id: str,
    token: str,
    region: str,
    connect: Callable[[str, int], Any] = lambda host, port: smtplib.SMTP(host, port, timeout=15),
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Log in to SES's SMTP endpoint with the pending credentials (no message is sent)."""
    pending = json.loads(
        secrets.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")[
            "SecretString"
        ]
    )
    host = smtp_endpoint(region)
    for attempt in range(1, LOGIN_ATTEMPTS + 1):
        try:
            with connect(host, SMTP_PORT) as smtp:
                smtp.ehlo()
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                smtp.login(pending["username"], pending["password"])
            log.info("testSecret: %s accepted key %s", host, pending["username"])
            return
        except smtplib.SMTPAuthenticationError as err:
            if attempt == LOGIN_ATTEMPTS:
                raise RuntimeError(
                    f"{host} refused key {pending['username']} after {attempt} attempts "
                    f"(SMTP {err.smtp_code}); the rotation stops here and is retried"
                ) from err
            log.info("testSecret: %s not yet accepted (attempt %d)", host, attempt)
            sleep(LOGIN_PAUSE_SECONDS)


def roll(ecs: Any, cluster: str, services: list[str]) -> list[str]:
    """Force a new deployment of each named service; return those rolled."""
    rolled: list[str] = []
    for service in services:
        try:
            ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in _ABSENT:
                log.warning("%s/%s: %s; nothing to roll", cluster, service, code)
                continue
            raise
        rolled.append(f"{cluster}/{service}")
    return rolled


def finish_secret(
    secrets: Any, ecs: Any, *, secret_id: str, token: str, cluster: str, services: list[str]
) -> list[str]:
    """Make the new version current (once), then roll the region's services (every time:
    a retried finishSecret after a failed roll must still roll).

    Not after the first rotation, which replaces the stack's placeholder: it runs while
    the deploy that created the secret is still under way, and the task definitions wait
    for the schedule that starts it (stacks/application.py), so the deploy's own tasks
    start after it began (seconds before it ends; a first deploy starts them at zero
    tasks anyway); a roll would only race that deploy's own deployment of the services.
    """
    versions = secrets.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = _stage_version(versions, "AWSCURRENT")
    if current != token:
        replaced = json.loads(
            secrets.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
        )
        secrets.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            RemoveFromVersionId=current,
        )
        log.info("finishSecret: version %s of %s is AWSCURRENT", token, secret_id)
        if replaced.get("username") == PLACEHOLDER_USER:
            log.info("finishSecret: the first credentials; nothing ran with a key to roll")
            return []
    return roll(ecs, cluster, services)


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    secrets = boto3.client("secretsmanager")
    meta = secrets.describe_secret(SecretId=secret_id)
    if not meta.get("RotationEnabled"):
        raise ValueError(f"{secret_id} is not enabled for rotation")
    versions = meta.get("VersionIdsToStages", {})
    if token not in versions:
        raise ValueError(f"{secret_id} has no version {token}")
    region = os.environ["SMTP_REGION"]
    if step == "finishSecret":
        rolled = finish_secret(
            secrets,
            boto3.client("ecs"),
            secret_id=secret_id,
            token=token,
            cluster=os.environ["CLUSTER"],
            services=json.loads(os.environ["SERVICES"]),
        )
        log.info("finishSecret: rolled %s", rolled)
        return {"step": step, "rolled": rolled}
    if "AWSCURRENT" in versions[token]:
        log.info("%s: version %s is already current", step, token)
        return {"step": step}
    if "AWSPENDING" not in versions[token]:
        raise ValueError(f"version {token} of {secret_id} is not AWSPENDING")
    if step == "createSecret":
        create_secret(
            secrets,
            boto3.client("iam"),
            secret_id=secret_id,
            token=token,
            user=os.environ["SMTP_USER"],
            region=region,
        )
    elif step == "setSecret":
        log.info("setSecret: nothing to set (an IAM key is valid from its creation)")
    elif step == "testSecret":
        check_secret(secrets, secret_id=secret_id, token=token, region=region)
    else:
        raise ValueError(f"unknown rotation step {step!r}")
    return {"step": step}
