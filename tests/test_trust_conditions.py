"""Issue 18, item 11: every trust of an AWS service that documents the source keys is
confined to this account, in every synthesized template of prod and staging; and the
origin balancers have nothing on port 80.

The walk reads role trust policies, bucket, topic, queue and key policies, and Lambda
permissions. A statement that trusts one of ``CONFINED_SERVICES`` must carry
``aws:SourceAccount`` equal to this account, or an ``aws:SourceArn`` naming a resource of
this account (a literal ARN with the account in it, or a resource of the same template);
roles the platform made for those services carry both. ``UNCONFINED`` lists the
exceptions with their reasons (docs/adr/0038-key-and-trust-hygiene.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from crm_platform.trust import CONFINED_SERVICES, UNCONFINED
from tests.conftest import Assembly

ACCOUNT = "123456789012"
POLICY_PROPERTIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}

Templates = dict[str, dict[str, Any]]


def templates(assembly: Assembly) -> Templates:
    stacks = [
        a["properties"]["templateFile"].removesuffix(".template.json")
        for a in assembly.manifest()["artifacts"].values()
        if a["type"] == "aws:cloudformation:stack"
    ]
    return {stack: assembly.raw(stack) for stack in stacks}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _services(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return []
    return [s for s in _list(principal.get("Service", [])) if isinstance(s, str)]


def _names_this_account(value: Any, template: dict[str, Any]) -> bool:
    """A literal with ``:<account>:`` in it, or a reference to this template's resources."""
    if isinstance(value, str):
        return f":{ACCOUNT}:" in value
    if isinstance(value, list):
        return bool(value) and all(_names_this_account(v, template) for v in value)
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0] in template["Resources"]
        if "Ref" in value:
            return value["Ref"] in template["Resources"]
        if "Fn::Join" in value:
            parts = value["Fn::Join"][1]
            return any(_names_this_account(p, template) for p in parts)
    return False


def _confined(condition: dict[str, Any], template: dict[str, Any], both: bool) -> bool:
    keys = {k.lower(): v for operator in condition.values() for k, v in operator.items()}
    account = keys.get("aws:sourceaccount")
    arn = keys.get("aws:sourcearn")
    account_ok = account is not None and _list(account) == [ACCOUNT]
    arn_ok = arn is not None and _names_this_account(arn, template)
    return (account_ok and arn_ok) if both else (account_ok or arn_ok)


Trust = tuple[str, str, dict[str, Any], bool]  # where, service, statement, a role's trust


def _trusts(stack: str, template: dict[str, Any]) -> Iterator[Trust]:
    """Every allow naming a service, and Lambda permissions as statements (their
    SourceAccount/SourceArn properties are the conditions)."""
    for logical, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        path = resource.get("Metadata", {}).get("aws:cdk:path", f"{stack}/{logical}")
        documents = []
        if kind == "AWS::IAM::Role":
            documents = [("trust", props.get("AssumeRolePolicyDocument", {}))]
        elif kind in POLICY_PROPERTIES:
            documents = [("policy", props.get(POLICY_PROPERTIES[kind], {}))]
        elif kind == "AWS::Lambda::Permission" and isinstance(props.get("Principal"), str):
            condition = {
                "StringEquals": {
                    **(
                        {"aws:SourceAccount": props["SourceAccount"]}
                        if "SourceAccount" in props
                        else {}
                    ),
                    **({"aws:SourceArn": props["SourceArn"]} if "SourceArn" in props else {}),
                }
            }
            statement = {"Principal": {"Service": props["Principal"]}, "Condition": condition}
            yield f"{path} (permission)", props["Principal"], statement, False
        for what, document in documents:
            for statement in document.get("Statement", []):
                if statement.get("Effect") != "Allow":
                    continue
                for service in _services(statement):
                    where = path if what == "trust" else f"{path} [{statement.get('Sid')}]"
                    yield where, service, statement, what == "trust"


def _exempt(service: str, where: str, statement: dict[str, Any]) -> bool:
    return any(
        service == s and (marker in where or marker == statement.get("Sid"))
        for s, marker in UNCONFINED
    )


def unconfined(all_templates: Templates) -> list[str]:
    found = []
    for stack, template in all_templates.items():
        for where, service, statement, role in _trusts(stack, template):
            if service not in CONFINED_SERVICES or _exempt(service, where, statement):
                continue
            if not _confined(statement.get("Condition", {}), template, both=role):
                found.append(f"{where}: {service}")
    return found


def confined_count(all_templates: Templates) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stack, template in all_templates.items():
        for _, service, _, _ in _trusts(stack, template):
            if service in CONFINED_SERVICES:
                counts[service] = counts.get(service, 0) + 1
    return counts


@pytest.fixture(scope="module")
def prod(assembly: Assembly) -> Templates:
    return templates(assembly)


@pytest.fixture(scope="module")
def staging(staging_assembly: Assembly) -> Templates:
    return templates(staging_assembly)


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_every_service_trust_is_confined_to_this_account(
    env: str, prod: Templates, staging: Templates
) -> None:
    chosen = prod if env == "prod" else staging
    assert unconfined(chosen) == []
    # The walk found what it checks: every listed service is trusted somewhere in prod
    # (staging has no pipeline).
    counts = confined_count(chosen)
    expected = set(CONFINED_SERVICES)
    if env == "staging":
        expected -= {"codebuild.amazonaws.com"}
    assert expected <= set(counts), sorted(expected - set(counts))


def test_a_trust_without_its_condition_is_found(prod: Templates) -> None:
    """Sabotage in a copy: drop the condition of the flow-log role's trust, and of one
    S3 log-delivery grant; the walk names both."""
    sabotaged = copy.deepcopy(prod)
    dropped = []
    for stack, template in sabotaged.items():
        for logical, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Role" and "FlowLogRole" in logical and not dropped:
                props["AssumeRolePolicyDocument"]["Statement"][0].pop("Condition")
                dropped.append(logical)
            if resource["Type"] == "AWS::S3::BucketPolicy" and stack.endswith("-primary"):
                for statement in props["PolicyDocument"]["Statement"]:
                    if _services(statement) == ["logging.s3.amazonaws.com"]:
                        statement.pop("Condition")
                        break
    assert dropped
    found = unconfined(sabotaged)
    assert any("FlowLogRole" in f and "vpc-flow-logs" in f for f in found), found
    assert any("logging.s3.amazonaws.com" in f for f in found), found
    assert unconfined(prod) == []


def test_an_execution_role_is_the_only_unconditioned_ecs_tasks_trust(prod: Templates) -> None:
    """The exception is as narrow as its reason: task roles are confined, and every
    unconditioned ecs-tasks trust is an execution role."""
    plain, confined = [], []
    for stack, template in prod.items():
        for where, service, statement, _ in _trusts(stack, template):
            if service == "ecs-tasks.amazonaws.com":
                (confined if "Condition" in statement else plain).append(where)
    assert plain and all("ExecutionRole" in w for w in plain), plain
    assert confined and not any("ExecutionRole" in w for w in confined), confined


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_origin_balancers_have_nothing_on_port_80(
    env: str, prod: Templates, staging: Templates
) -> None:
    """CloudFront reaches the origins over HTTPS only (edge/cdn.py); the port-80 redirect
    listener and its prefix-list rule served nobody."""
    chosen = prod if env == "prod" else staging
    listeners, rules, balancers = [], [], 0
    for template in chosen.values():
        for resource in template["Resources"].values():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
                balancers += 1
            if kind == "AWS::ElasticLoadBalancingV2::Listener":
                listeners.append(props["Port"])
            ingress = props.get("SecurityGroupIngress", [])
            if kind == "AWS::EC2::SecurityGroupIngress":
                ingress = [props]
            rules += [r.get("FromPort") for r in ingress if r.get("FromPort") == 80]
    assert balancers == 2 and sorted(listeners) == [443, 443]
    assert rules == []
