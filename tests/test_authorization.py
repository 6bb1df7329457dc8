"""The authorization model over the synthesized assembly: what AWS would allow, and not.

Each defect a review found on main (and that every earlier check missed) is caught here
or in tests/test_drill.py as a strict expected failure naming the issue that fixes it: the
test fails today, so the fix turns it into a pass (and ``strict`` makes the suite say so).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from crm_platform.authz.chains import ChainCheck, service_chains
from crm_platform.authz.encryption import encrypted_resources, key_index
from crm_platform.authz.lint import mismatches
from crm_platform.authz.model import AuthorizationModel, Request
from crm_platform.authz.paths import evaluate
from crm_platform.authz.requests import Call, requests_for
from crm_platform.backup import permissions as backup_needs
from crm_platform.compute import permissions as compute_needs
from crm_platform.database import permissions as database_needs
from crm_platform.naming import Names
from crm_platform.needs import Need, Who
from crm_platform.ops import permissions as operator_needs
from crm_platform.release import permissions as release_needs
from crm_platform.settings import Settings
from tests.conftest import Assembly

DR = "ap-southeast-1"


@pytest.fixture(scope="module")
def model(assembly: Assembly) -> AuthorizationModel:
    return AuthorizationModel.load(assembly.outdir)


@pytest.fixture(scope="module")
def staging_model(staging_assembly: Assembly) -> AuthorizationModel:
    return AuthorizationModel.load(staging_assembly.outdir)


@pytest.fixture(scope="module")
def chains(model: AuthorizationModel) -> list[ChainCheck]:
    return service_chains(model)


def denied(checks: list[ChainCheck], label: str) -> list[str]:
    return [c.describe() for c in checks if not c.ok and c.resource.label == label]


# --- the model reads the assembly -----------------------------------------------------------
def test_every_value_the_policies_use_resolves_to_a_concrete_arn(model: AuthorizationModel) -> None:
    assert model.problems == []
    assert len(model.roles) > 20
    for arn, policy in model.policies.items():
        assert arn.startswith("arn:aws:"), arn
        for statement in policy.document["Statement"]:
            resources = statement.get("Resource", "*")
            for r in resources if isinstance(resources, list) else [resources]:
                assert r == "*" or r.startswith("arn:"), (policy.label, r)


def test_every_encrypted_resource_is_found_with_its_key(model: AuthorizationModel) -> None:
    found = list(encrypted_resources(model))
    services = {e.service for e in found}
    assert {"dynamodb", "sns", "secretsmanager", "s3", "rds", "logs", "backup"} <= services
    assert all(e.key in model.policies for e in found), "every key's policy is known"
    replicas = [e for e in found if "(replica in ap-southeast-1)" in e.label]
    assert len(replicas) >= 3, "the DR replicas of the primary's secrets carry the DR key"


def test_a_key_policy_decides_before_iam(model: AuthorizationModel) -> None:
    """The keeper's IAM policy allows kms:Decrypt on the DR key through any service; the key
    policy allows it through the listed services only (SQS is not one of them). Without IAM, the key alone is not
    enough either (it delegates to IAM through the account)."""
    keeper = model.role_of_function("crm-prod-dr", "switch.handler")
    key = model.key_arn("alias/crm-prod", DR)

    def decrypt(principal: Any, service: str) -> bool:
        via = {"kms:ViaService": f"{service}.{DR}.amazonaws.com"}
        return model.decide(Request.of(principal, "kms:Decrypt", key, via)).allowed

    assert decrypt(keeper, "secretsmanager") and not decrypt(keeper, "sqs")
    assert not decrypt(model.role("crm-prod-dr", "Network/FlowLogRole"), "secretsmanager")


def test_encryption_context_conditions_are_evaluated(model: AuthorizationModel) -> None:
    """CloudWatch Logs may use the key for this account's log groups only."""
    logs = model.service(f"logs.{DR}.amazonaws.com")
    key = model.key_arn("alias/crm-prod", DR)

    def ask(account: str) -> bool:
        group = f"arn:aws:logs:{DR}:{account}:log-group:g"
        context = {"kms:EncryptionContext:aws:logs:arn": group}
        return model.decide(Request.of(logs, "kms:GenerateDataKey", key, context)).allowed

    assert ask(model.account) and not ask("999999999999")


def test_a_key_policy_sabotaged_in_a_copy_turns_the_chains_red(
    assembly: Assembly, chains: list[ChainCheck]
) -> None:
    """Take RDS off the DR key's list of services: RDS can no longer create the replica's
    grant, and the check of the replica's creation says so."""
    from crm_platform.assembly.reader import load

    stacks = load(assembly.outdir)
    dr = copy.deepcopy(stacks["crm-prod-dr"].template)
    for resource in dr["Resources"].values():
        if resource["Type"] != "AWS::KMS::Key":
            continue
        for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            if isinstance(via, list):
                statement["Condition"]["StringEquals"]["kms:ViaService"] = [
                    v for v in via if not v.startswith("rds.")
                ]
    stacks["crm-prod-dr"].template = dr
    sabotaged = service_chains(AuthorizationModel(stacks))
    label = "crm-prod-dr-database/Replica/Instance"
    assert denied(chains, label) == []
    assert any("kms:CreateGrant" in line for line in denied(sabotaged, label))


# --- service chains: every encrypted resource, creation and use ------------------------------
def test_every_encrypted_resource_is_usable_at_creation_and_by_its_users(
    chains: list[ChainCheck],
) -> None:
    assert [c.describe() for c in chains if not c.ok] == []
    assert len(chains) > 100, "creation and use are checked for every encrypted resource"


def test_dynamodb_may_use_the_dr_key_for_the_failover_run_table(chains: list[ChainCheck]) -> None:
    """Was refused on main (issue 17, item 1): creation and every step's timeline write."""
    runs = [c for c in chains if c.resource.label == "crm-prod-dr-app/Failover/Runs"]
    assert {c.phase for c in runs} == {"creation", "use"}
    assert all(c.ok for c in runs)


def test_the_state_machine_may_publish_to_the_encrypted_alert_topic(
    chains: list[ChainCheck],
) -> None:
    """Was refused on main (issue 17, item 1): the approval notice of automatic mode."""
    found = [
        c for c in chains
        if c.resource.label == "crm-prod-dr/Alerts/Topic"
        and "StateMachineRole" in c.decision.request.principal.label
    ]  # fmt: skip
    assert len(found) == 2 and all(c.ok for c in found)


@pytest.mark.parametrize("region", [DR, "us-east-1"])
def test_a_replica_is_decrypted_only_by_roles_iam_allows(
    region: str, model: AuthorizationModel, prod_settings: Settings
) -> None:
    """Issue 18, item 11: the open replica statement only writes replicas (ADR 0038).

    Secrets Manager replicates each new version of a primary with the writer's identity;
    the database's hosted rotation function is such a writer, and its role (made by the
    rotation template, outside the assembly) holds no permission on the replica regions'
    keys. A role with no KMS permission of its own (the flow-log role) stands in for it:
    it may still encrypt a replica through Secrets Manager, but not decrypt one."""
    names = Names.of(prod_settings)
    key = model.key_arn(names.kms_alias, region)
    replica = (
        f"arn:aws:secretsmanager:{region}:{model.account}:secret:{names.secrets_prefix}x-AbCdEf"
    )
    context = {
        "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
        "kms:EncryptionContext:SecretARN": replica,
    }
    nobody = model.role("crm-prod-primary", "Network/FlowLogRole")
    assert nobody.exists

    def may(action: str) -> bool:
        return model.decide(Request.of(nobody, action, key, context)).allowed

    assert may("kms:Encrypt") and may("kms:GenerateDataKey")
    assert not may("kms:Decrypt") and not may("kms:ReEncryptFrom")


# --- policies that grant nothing ---------------------------------------------------------------
def test_every_action_matches_the_arn_type_of_its_resources(model: AuthorizationModel) -> None:
    """Was not so on main (issue 18, item 4): codestar-connections on a codeconnections ARN."""
    assert [f"{m.role}: {m.action} on {m.resource}" for m in mismatches(model)] == []


def test_a_wrong_service_prefix_is_a_finding_not_a_silent_pass(model: AuthorizationModel) -> None:
    role = model.role("crm-prod-pipeline", "Release/Role")
    arn = f"arn:aws:codeconnections:ap-northeast-1:{model.account}:connection/abc"
    decision = model.decide(Request.of(role, "codestar-connections:UseConnection", arn))
    assert decision.answer.result == "Error" and "prefix must match" in decision.explanation


# --- runtime paths as permission contracts ------------------------------------------------------
def backup_roles(model: AuthorizationModel, names: Names) -> dict[str, str]:
    return {
        "backup": model.role(names.primary_stack, "Backup/Roles/Backup/").arn,
        "restore test": model.role(names.primary_stack, "Backup/Roles/RestoreTest").arn,
        "DR standby backup": model.role(names.dr_stack, "StandbyBackups/Role").arn,
    }


def contract(which: str, model: AuthorizationModel, settings: Settings) -> list[str]:
    names = Names.of(settings)
    needs = {
        "rotation roll": lambda: database_needs.needs(names),
        "database bootstrap": lambda: database_needs.bootstrap_needs(names),
        "backup and restore tests": lambda: backup_needs.needs(names, backup_roles(model, names)),
        "execution roles pull and read secrets": lambda: compute_needs.needs(names),
        "pipeline build and migrate": lambda: release_needs.needs(names),
        "the deploy's publish build": lambda: release_needs.registry_needs(names),
        "operator commands as the operator role": lambda: operator_needs.needs(names),
    }[which]()
    return [v.describe() for v in evaluate(model, needs) if not v.ok]


@pytest.mark.parametrize("env", ["prod", "staging"])
@pytest.mark.parametrize(
    "which", ["rotation roll", "database bootstrap", "backup and restore tests"]
)
def test_runtime_paths_are_allowed(
    which: str,
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    chosen = (model, prod_settings) if env == "prod" else (staging_model, staging_settings)
    assert contract(which, *chosen) == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_execution_roles_pull_the_platform_image_and_read_their_secrets(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    chosen = (model, prod_settings) if env == "prod" else (staging_model, staging_settings)
    assert contract("execution roles pull and read secrets", *chosen) == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_twentys_roles_cannot_read_the_master_secret(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """Was allowed on main (issue 18, item 9): every Twenty task logged in as the RDS
    master, so its execution role read the master's secret in both regions. Now only the
    one-off bootstrap task's own execution role may (in each region: DR's task is run
    only by a restore from DR's vault, ops/restore_service.py reset_logins, and reads
    DR's replica), and the operator role (MFA, break glass), whose failback carries the
    serving password home (ops/failback.py)."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    verdicts = evaluate(chosen, compute_needs.forbidden(names))
    assert len(verdicts) == 4
    assert [v.need.why for v in verdicts if v.ok] == []
    readers = {
        role.path.removesuffix("/Resource")
        for role in chosen.roles.values()
        for region in (names.primary_region, names.dr_region)
        if chosen.decide(
            Request.of(
                role.principal(chosen.account),
                "secretsmanager:GetSecretValue",
                chosen.secret_arn(names.db_secret, region),
            )
        ).allowed
    }
    assert readers == {
        f"{names.primary_stack}/Twenty/BootstrapExecutionRole",
        f"{names.dr_app_stack}/Twenty/BootstrapExecutionRole",
        f"{names.dr_app_stack}/Operator/Role",
    }


def test_the_bootstrap_runs_only_its_own_task(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    verdicts = evaluate(model, database_needs.bootstrap_forbidden(names))
    assert verdicts and [v.need.why for v in verdicts if v.ok] == []


def test_the_pipeline_can_connect_build_and_migrate(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    assert contract("pipeline build and migrate", model, prod_settings) == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_deploys_publish_build_may_publish_in_every_environment(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """Issue 18, item 2: with the pipeline off (staging) there was no build at all."""
    chosen = (model, prod_settings) if env == "prod" else (staging_model, staging_settings)
    assert contract("the deploy's publish build", *chosen) == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_operator_role_may_run_the_incident_commands(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    chosen = (model, prod_settings) if env == "prod" else (staging_model, staging_settings)
    assert contract("operator commands as the operator role", *chosen) == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_operator_role_restores_into_a_new_instance_only(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """``crm-platform restore`` (ops/restore.py): every call allowed, with the restore
    role passed to AWS Backup and the snapshot's key through RDS; never the platform's own
    identifiers, never another role handed to AWS Backup."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    allowed = evaluate(chosen, operator_needs.restore_needs(names))
    assert [v.describe() for v in allowed if not v.ok] == []
    passed = [d.request for v in allowed for d in v.decisions if d.request.action == "iam:PassRole"]
    # AWS Backup the restore role; ECS (reset_logins) exactly the bootstrap task's roles of
    # the region the restore serves from (the primary, or DR after a restore from its vault).
    assert {(r.resource.rsplit("/", 1)[-1], dict(r.context).get("iam:PassedToService"))
            for r in passed} == {
        (names.restore_break_glass_role, "backup.amazonaws.com"),
        *((n, "ecs-tasks.amazonaws.com") for region in (names.primary_region, names.dr_region)
          for n in names.bootstrap_task_roles(region)),
    }  # fmt: skip
    # DR's reset_logins: the master secret's replica read in DR through DR's key (its key
    # policy included), the DR bootstrap task run in DR's cluster.
    dr_logins = [v for v in allowed if v.need.region == names.dr_region
                 and v.need.why.startswith(("restore: read the master's secret",
                                            "restore: run the bootstrap task"))]  # fmt: skip
    assert len(dr_logins) == 2 and all(v.ok for v in dr_logins)
    decided = {d.request.action for v in dr_logins for d in v.decisions}
    assert {"secretsmanager:GetSecretValue", "kms:Decrypt", "ecs:RunTask",
            "iam:PassRole"} <= decided, decided  # fmt: skip
    forbidden = evaluate(chosen, operator_needs.restore_forbidden(names))
    assert len(forbidden) == 6
    assert [v.need.why for v in forbidden if v.ok] == []


def test_a_call_carries_the_kms_calls_its_service_makes(model: AuthorizationModel) -> None:
    step = model.role_of_function("crm-prod-dr-app", "handler.handler")
    keys = key_index(model)
    call = Call("secretsmanager", DR, "PutSecretValue", {"SecretId": "crm/prod/database/master"})
    found = requests_for(call, step, account=model.account, keys=keys, secret_arn=model.secret_arn)
    actions = [(r.action, dict(r.context).get("kms:ViaService")) for r in found]
    assert actions == [
        ("secretsmanager:PutSecretValue", None),
        ("kms:GenerateDataKey", f"secretsmanager.{DR}.amazonaws.com"),
        ("kms:Decrypt", f"secretsmanager.{DR}.amazonaws.com"),
    ]
    passed: Any = requests_for(
        Call(
            "ecs",
            "ap-northeast-1",
            "RegisterTaskDefinition",
            {"taskRoleArn": "arn:aws:iam::1:role/t", "executionRoleArn": "arn:aws:iam::1:role/e"},
        ),
        step,
        account=model.account,
        keys=keys,
        secret_arn=model.secret_arn,
    )
    assert [(r.action, dict(r.context)) for r in passed[1:]] == [
        ("iam:PassRole", {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    ] * 2


# --- the trust boundary around releases (issue 18, item 5) --------------------------------------
ECS_TASKS = "ecs-tasks.amazonaws.com"


def task_roles(model: AuthorizationModel, region: str, family: str) -> list[str]:
    """The task and execution role ARNs the assembly's task definition of ``family`` names."""
    found = []
    for stack in model.stacks.values():
        if stack.region != region:
            continue
        for resource in stack.of_type("AWS::ECS::TaskDefinition").values():
            props = resource["Properties"]
            if props.get("Family") == family:
                found += [
                    str(model.physical.resolve(props[k], stack))
                    for k in ("TaskRoleArn", "ExecutionRoleArn")
                ]
    return found


def test_the_pipeline_role_may_deploy_each_service_passing_its_roles(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    roles = {
        (region, names.task_family(role)): task_roles(model, region, names.task_family(role))
        for region in (names.primary_region, names.dr_region)
        for role in ("server", "worker")
    }
    assert all(len(arns) == 2 for arns in roles.values()), roles
    verdicts = evaluate(model, release_needs.deploy_needs(names, roles))
    assert [v.describe() for v in verdicts if not v.ok] == []


def test_no_pipeline_role_can_pass_an_arbitrary_role(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    """Was allowed on main (issue 18, item 5): the pipeline role passed any role of the
    account (``*``, to ec2 or ecs-tasks), so whoever could change the pipeline could run a
    task with any role."""
    names = Names.of(prod_settings)
    account = model.account
    pipeline_roles = [r for r in model.roles.values() if r.stack == names.pipeline_stack]
    assert len(pipeline_roles) >= 3  # the pipeline's, the build's, the migrate step's
    arbitrary = [
        f"arn:aws:iam::{account}:role/some-other-team-role",
        f"arn:aws:iam::{account}:role/{names.operator_role}",
        model.role(names.primary_stack, "Backup/Roles/Backup/").arn,
    ]
    allowed = [
        f"{role.path}: {arn} to {service}"
        for role in pipeline_roles
        for arn in arbitrary
        for service in (ECS_TASKS, "ec2.amazonaws.com", "lambda.amazonaws.com")
        if model.decide(
            Request.of(
                role.principal(account), "iam:PassRole", arn, {"iam:PassedToService": service}
            )
        ).allowed
    ]
    assert allowed == []
    # Even the roles it may pass, it passes to ECS tasks only.
    server = task_roles(model, names.primary_region, names.task_family("server"))
    deployer = model.role(names.pipeline_stack, "Release/Role")
    for service, expected in ((ECS_TASKS, True), ("ec2.amazonaws.com", False)):
        context = {"iam:PassedToService": service}
        decided = [
            model.decide(Request.of(deployer, "iam:PassRole", arn, context)) for arn in server
        ]
        assert all(d.allowed == expected for d in decided), service


def test_the_release_boundary_contract_refuses_what_it_lists(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    """release/permissions.py's ``forbidden``: passing unrelated roles, registering or
    running another family than the migrate task's, writing the release record outside the
    migrate step. Four of these were allowed on main."""
    names = Names.of(prod_settings)
    verdicts = evaluate(model, release_needs.forbidden(names))
    assert len(verdicts) > 10
    assert [v.need.why for v in verdicts if v.ok] == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_only_the_migrate_step_writes_the_release_record(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """Of every role in the assembly; staging has no pipeline, so only its operator's
    ``crm-platform deploy`` (outside the assembly) records a release there."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    writers = {
        role.path.removesuffix("/Resource")
        for role in chosen.roles.values()
        for region in (names.primary_region, names.dr_region)
        if chosen.decide(
            Request.of(
                role.principal(chosen.account),
                "ssm:PutParameter",
                f"arn:aws:ssm:{region}:{chosen.account}:parameter{names.release_parameter}",
            )
        ).allowed
    }
    expected = {f"{names.pipeline_stack}/Release/Migrate/Role"} if env == "prod" else set()
    # ... and the operator role, in the primary region only: failback copies DR's record
    # there (failover/runtime/failback.py, _copy_release_record), never a new value.
    operator = model_operator_path(chosen, names)
    assert writers - {operator} == expected
    assert operator in writers
    primary_only = [
        region
        for region in (names.primary_region, names.dr_region)
        if chosen.decide(
            Request.of(
                chosen.role_named(names.operator_role),
                "ssm:PutParameter",
                f"arn:aws:ssm:{region}:{chosen.account}:parameter{names.release_parameter}",
            )
        ).allowed
    ]
    assert primary_only == [names.primary_region]


def model_operator_path(chosen: AuthorizationModel, names: Names) -> str:
    """The operator role's construct path in the model (the DR app stack's)."""
    return next(
        role.path.removesuffix("/Resource")
        for role in chosen.roles.values()
        if role.name == names.operator_role
    )


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_operator_role_fails_back_and_writes_no_app_key(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """``crm-platform failback`` (ops/failback.py): every call allowed as the operator
    role, key policies included; never APP_SECRET or ENCRYPTION_KEY, never a replica
    under another name."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    topic = alert_topic_arn(chosen, names)
    allowed = evaluate(chosen, operator_needs.failback_needs(names, alert_topic_arn=topic))
    assert [v.describe() for v in allowed if not v.ok] == []
    kms = {d.request.action for v in allowed for d in v.decisions}
    assert {"kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"} <= kms
    # The notice: SNS uses the DR key as the operator, and the key policy allows it.
    (notice,) = [v for v in allowed if v.need.why.startswith("failback: the notice")]
    used = {(d.request.action, d.request.resource) for d in notice.decisions}
    dr_key = chosen.key_arn(names.kms_alias, names.dr_region)
    assert {("kms:GenerateDataKey", dr_key), ("kms:Decrypt", dr_key)} <= used
    # RunTask of the primary's jobs task hands ECS exactly its two named roles.
    (purge,) = [v for v in allowed if v.need.why.startswith("failback: purge")]
    passed = {d.request.resource for d in purge.decisions if d.request.action == "iam:PassRole"}
    assert passed == {
        f"arn:aws:iam::{chosen.account}:role/{n}"
        for n in names.jobs_task_roles(names.primary_region)
    }
    forbidden = evaluate(chosen, operator_needs.failback_forbidden(names))
    assert len(forbidden) == 6
    assert [v.need.why for v in forbidden if v.ok] == []


def alert_topic_arn(chosen: AuthorizationModel, names: Names) -> str:
    """The DR alert topic's ARN (a generated name) as the model resolves it."""
    stack = chosen.stacks[names.dr_stack]
    (logical,) = [
        logical for logical in stack.of_type("AWS::SNS::Topic")
        if stack.path(logical).startswith(f"{names.dr_stack}/Alerts/Topic")
    ]  # fmt: skip
    return str(chosen.physical.ref(logical, stack))


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_operator_role_holds_each_statement_once(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """The SQL-task statements were granted twice (SqlTaskPolicy and failback's tier
    policy): no statement of the operator role repeats another (actions, resources and
    conditions alike; features may still overlap on a read), and each region's SQL task
    is run through exactly one statement."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    role = next(r for r in chosen.roles.values() if r.name == names.operator_role)

    def listed(value: Any) -> list[str]:
        return sorted(json.dumps(v, sort_keys=True, default=str)
                      for v in (value if isinstance(value, list) else [value]))  # fmt: skip

    seen: dict[str, str] = {}
    repeated, sql_runs = [], []
    for policy, document in role.policies:
        for statement in document["Statement"]:
            where = f"{policy}/{statement.get('Sid')}"
            key = json.dumps([listed(statement["Action"]), listed(statement["Resource"]),
                              statement.get("Condition", {})], sort_keys=True, default=str)  # fmt: skip
            if key in seen:
                repeated.append(f"{seen[key]} and {where}")
            seen[key] = where
            if any("ecs:RunTask" in a for a in listed(statement["Action"])) and any(
                names.task_family("sql") in r for r in listed(statement["Resource"])
            ):
                sql_runs.append(where)
    assert repeated == []
    assert len(sql_runs) == 2, sql_runs  # one per region


# --- the SQL task (failover/sql_task.py): the failover's step role in DR, the operator in both
def _sql_needs(names: Names, who: Who, region: str) -> list[Need]:
    from crm_platform.failover.sql_task import sql_task_needs

    return sql_task_needs(names, who, region)


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_failover_runs_the_dr_sql_task_and_reads_its_answer(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """wait_writable's calls as the step role: RunTask of the DR SQL family in the DR
    cluster (passing exactly the task's own two roles), ListTasks, DescribeTasks, the
    server's network, GetLogEvents on the task's encrypted group."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    step = Who(names.dr_app_stack, handler="handler.handler")
    verdicts = evaluate(chosen, _sql_needs(names, step, names.dr_region))
    assert [v.describe() for v in verdicts if not v.ok] == []
    passed = {d.request.resource for v in verdicts for d in v.decisions
              if d.request.action == "iam:PassRole"}  # fmt: skip
    assert passed == {
        f"arn:aws:iam::{chosen.account}:role/{role}"
        for role in names.sql_task_roles(names.dr_region)
    }


def test_the_failover_runs_no_other_task_as_the_sql_task_and_none_in_the_primary(
    model: AuthorizationModel, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    step = Who(names.dr_app_stack, handler="handler.handler")
    dr, primary = names.dr_region, names.primary_region
    forbidden = [
        *_sql_needs(names, step, primary)[:1],  # the primary's SQL task: failback's, not its
        Need.call(step, "run the server as a one-off", "ecs", dr, "RunTask",
                  cluster=names.ecs_cluster(dr), taskDefinition=names.task_family("server")),
        Need.call(step, "run the SQL family in another cluster", "ecs", dr, "RunTask",
                  cluster="someone-elses", taskDefinition=names.task_family("sql")),
        Need.call(step, "read another log group", "logs", dr, "GetLogEvents",
                  logGroupName="/ecs/crm-prod-server", logStreamName="server/server/1"),
    ]  # fmt: skip
    verdicts = evaluate(model, forbidden)
    assert len(verdicts) == 4 and [v.need.why for v in verdicts if v.ok] == []


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_operator_runs_the_sql_task_in_both_regions(
    env: str,
    model: AuthorizationModel,
    staging_model: AuthorizationModel,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """Failback calls sql_task.run as the operator, in the primary region and in DR."""
    chosen, settings = (model, prod_settings) if env == "prod" else (
        staging_model, staging_settings)  # fmt: skip
    names = Names.of(settings)
    operator = Who(role_name=names.operator_role)
    for region in (names.dr_region, names.primary_region):
        verdicts = evaluate(chosen, _sql_needs(names, operator, region))
        assert [v.describe() for v in verdicts if not v.ok] == []
