"""Twenty on Fargate in both regions: tasks, services, scaling, roles, load balancer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from crm_platform.compute import wrapper
from crm_platform.database import heartbeat
from crm_platform.settings import Settings
from crm_platform.settings.model import OriginHeader, OriginHeaderVersions
from crm_platform.toolchain.synth import synthesize
from tests.conftest import Assembly

REGIONS = {"crm-prod-primary": "ap-northeast-1", "crm-prod-dr-app": "ap-southeast-1"}
TWENTY_ENV = {
    "NODE_PORT", "SERVER_URL", "STORAGE_TYPE", "STORAGE_S3_REGION", "STORAGE_S3_NAME",
    "PG_HOST", "PG_PORT", "PG_DATABASE", "REDIS_HOST", "REDIS_PORT",
    "DISABLE_DB_MIGRATIONS", "DISABLE_CRON_JOBS_REGISTRATION", "HOME",
    "YARN_ENABLE_TELEMETRY",
    # e-mail through SES (email/): the SMTP user and password are secrets below
    "EMAIL_DRIVER", "EMAIL_SMTP_HOST", "EMAIL_SMTP_PORT", "EMAIL_FROM_ADDRESS",
    "EMAIL_FROM_NAME", "EMAIL_SYSTEM_ADDRESS",
}  # fmt: skip
SECRETS = {
    "PG_USER", "PG_PASSWORD", "REDIS_TOKEN", "APP_SECRET", "ENCRYPTION_KEY",
    "EMAIL_SMTP_USER", "EMAIL_SMTP_PASSWORD",
}  # fmt: skip


@pytest.fixture(scope="module")
def dr_app(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-dr-app")


def container(template: Template, family: str, name: str) -> dict[str, Any]:
    (task,) = template.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": family}}
    ).values()
    (found,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == name]
    return found | {"_task": task["Properties"]}


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in c["Environment"]}


@pytest.mark.parametrize("stack", sorted(REGIONS))
@pytest.mark.parametrize("role", ["server", "worker"])
def test_twenty_environment_is_complete_with_exact_names(
    assembly: Assembly, stack: str, role: str, prod_settings: Settings
) -> None:
    c = container(assembly.template(stack), f"crm-prod-{role}", role)
    values = env(c)
    assert set(values) == TWENTY_ENV
    assert {s["Name"] for s in c["Secrets"]} == SECRETS
    region = REGIONS[stack]
    bucket = "crm-attachments-123456789012" + ("" if stack == "crm-prod-primary" else "-dr")
    assert values["SERVER_URL"] == "https://crm.example.com"
    assert values["STORAGE_TYPE"] == "S_3"
    assert values["STORAGE_S3_REGION"] == region
    assert values["STORAGE_S3_NAME"] == bucket
    assert values["NODE_PORT"] == "3000"
    # Our registry (the region's own replica), never Docker Hub (docs/adr/0039).
    assert c["Image"] == (
        f"123456789012.dkr.ecr.{region}.amazonaws.com/crm-prod/twenty:"
        f"{prod_settings.twenty.version}"
    )
    assert c["EntryPoint"] == wrapper.entry_point()
    assert c["ReadonlyRootFilesystem"] is True
    assert c["MountPoints"] == [{"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "tmp"}]
    assert c["DependsOn"] == [{"Condition": "SUCCESS", "ContainerName": "prepare-tmp"}]
    size = getattr(prod_settings.compute, role)
    assert (c["_task"]["Cpu"], c["_task"]["Memory"]) == (str(size.cpu), str(size.memory_mib))


def test_secrets_are_single_fields_of_the_rotating_database_secret(dr_app: Template) -> None:
    """Twenty's own user's secret (issue 18, item 9): it read the master's on main."""
    c = container(dr_app, "crm-prod-server", "server")
    secrets = {s["Name"]: s["ValueFrom"] for s in c["Secrets"]}
    base = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:crm/prod/"
    assert secrets["PG_USER"] == f"{base}database/app:username::"
    assert secrets["PG_PASSWORD"] == f"{base}database/app:password::"
    assert secrets["APP_SECRET"] == f"{base}app/app-secret"
    assert secrets["ENCRYPTION_KEY"] == f"{base}app/encryption-key"


def test_no_service_migrates_only_the_migrate_tasks_do(primary: Template, dr_app: Template) -> None:
    for template, role in (
        (primary, "server"),
        (primary, "worker"),
        (dr_app, "server"),
        (dr_app, "worker"),
    ):
        values = env(container(template, f"crm-prod-{role}", role))
        assert values["DISABLE_DB_MIGRATIONS"] == "true", (role, values)
        assert values["DISABLE_CRON_JOBS_REGISTRATION"] == "true"
    # Both regions hold one (DR's runs only in a release into DR while it serves).
    for template in (primary, dr_app):
        migrate = container(template, "crm-prod-migrate", "migrate")
        values = env(migrate)
        assert (values["DISABLE_DB_MIGRATIONS"], values["DISABLE_CRON_JOBS_REGISTRATION"]) == (
            "false", "false",
        )  # fmt: skip
        assert migrate["Command"] == ["true"]  # the entrypoint migrates, then the task ends
        assert migrate["EntryPoint"] == wrapper.entry_point()
        assert "PortMappings" not in migrate
        # The migrate family is in no service: it runs once per release.
        families = {
            json.dumps(svc["Properties"]["TaskDefinition"])
            for svc in template.find_resources("AWS::ECS::Service").values()
        }
        assert not any("Migrate" in f for f in families)


# --- Twenty's own database user (issue 18, item 9) --------------------------------------
TWENTY_FAMILIES = {
    "crm-prod-primary": ("server", "worker", "migrate", "jobs"),
    "crm-prod-dr-app": ("server", "worker", "jobs"),
}


@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_both_regions_hold_the_jobs_task_with_its_own_named_roles(
    assembly: Assembly, stack: str
) -> None:
    """Failback purges the primary's queues and registers its jobs with the primary's
    jobs task, as the operator role in the DR stack: so the task exists in both regions,
    its two roles are named (Names.jobs_task_roles) and its task role holds nothing (a
    caller may override its command)."""
    template = assembly.template(stack)
    resources = template.to_json()["Resources"]
    jobs = task_definitions(template)["crm-prod-jobs"]
    base = "crm-prod-jobs" if stack == "crm-prod-primary" else "crm-prod-jobs-dr"
    roles = {
        logical: r["Properties"].get("RoleName")
        for logical, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
    }
    task_role = jobs["TaskRoleArn"]["Fn::GetAtt"][0]
    execution_role = jobs["ExecutionRoleArn"]["Fn::GetAtt"][0]
    assert (roles[task_role], roles[execution_role]) == (f"{base}-task", f"{base}-execution")
    for family in ("crm-prod-server", "crm-prod-worker"):  # the services keep the tier's
        assert task_definitions(template)[family]["TaskRoleArn"]["Fn::GetAtt"][0] != task_role
    attached = [
        logical
        for logical, r in resources.items()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": task_role} in r["Properties"].get("Roles", [])
    ]
    assert attached == [] and "ManagedPolicyArns" not in resources[task_role]["Properties"]
    assert "Policies" not in resources[task_role]["Properties"]


def task_definitions(template: Template) -> dict[str, dict[str, Any]]:
    return {
        t["Properties"]["Family"]: t["Properties"]
        for t in template.find_resources("AWS::ECS::TaskDefinition").values()
    }


@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_every_task_that_runs_twenty_reads_only_its_own_users_secret(
    assembly: Assembly, stack: str
) -> None:
    """On main the server, worker, migrate and jobs tasks logged in as the RDS master."""
    found = task_definitions(assembly.template(stack))
    region = REGIONS[stack]
    base = f"arn:aws:secretsmanager:{region}:123456789012:secret:crm/prod/database/"
    for role in TWENTY_FAMILIES[stack]:
        definition = found[f"crm-prod-{role}"]
        text = json.dumps(definition)
        assert "database/master" not in text and "MASTER_" not in text, role
        (twenty,) = [c for c in definition["ContainerDefinitions"] if c["Name"] == role]
        secrets = {s["Name"]: s["ValueFrom"] for s in twenty["Secrets"]}
        if stack == "crm-prod-dr-app":  # a replica by name; the primary's is a Ref
            assert secrets["PG_USER"] == f"{base}app:username::"
            assert secrets["PG_PASSWORD"] == f"{base}app:password::"
    # The master's secret is read by one task only: the bootstrap (DR's is run by a restore
    # from DR's vault only: test_dr_holds_the_bootstrap_task_and_nothing_runs_it).
    readers = {f for f, d in found.items() if "MASTER_PASSWORD" in json.dumps(d)}
    assert readers == {"crm-prod-bootstrap"}


@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_no_task_start_sets_up_the_database(assembly: Assembly, stack: str) -> None:
    """On main every start of the primary's server installed the pg_cron heartbeat as the
    master: no task that runs Twenty carries SQL, and the wrapper runs no psql at all."""
    for family, definition in task_definitions(assembly.template(stack)).items():
        if family == "crm-prod-bootstrap":
            continue
        for c in definition["ContainerDefinitions"]:
            names = {e["Name"] for e in c.get("Environment", [])}
            assert not names & {"HEARTBEAT_SETUP_SQL", "BOOTSTRAP_SQL"}
            if family == "crm-prod-sql":  # runs no Twenty; reads, as Twenty's user (ADR 0045)
                if c["Name"] != "prepare-tmp":
                    assert c["EntryPoint"] == wrapper.sql_entry_point()
                    assert (
                        "cron." not in c["EntryPoint"][2] and "EXTENSION" not in c["EntryPoint"][2]
                    )
                continue
            assert "HEARTBEAT_DATABASE" not in names
            if c["Name"] != "prepare-tmp":
                assert c["EntryPoint"] == wrapper.entry_point(), family
    assert "psql" not in wrapper.WRAPPER and "cron" not in wrapper.WRAPPER


def test_the_deploy_runs_the_bootstrap_once_before_the_services(primary: Template) -> None:
    """A custom resource runs the bootstrap task during the deploy: after the instance,
    before the server and the worker (they depend on it), again only when what it sets
    up changes (its triggers)."""
    ((run_id, run),) = primary.find_resources("Custom::DatabaseBootstrap").items()
    props = run["Properties"]
    assert (props["Family"], props["Container"], props["Cluster"]) == (
        "crm-prod-bootstrap", "bootstrap", "crm-prod-cluster",
    )  # fmt: skip
    assert set(props["Triggers"]) == {"Sql", "User", "Instance"}
    assert props["Triggers"]["User"] == "twenty_app"
    depends = set(run["DependsOn"])
    (instance,) = primary.find_resources("AWS::RDS::DBInstance")
    (definition,) = primary.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": "crm-prod-bootstrap"}}
    )
    assert {instance, definition} <= depends
    for service in primary.find_resources("AWS::ECS::Service").values():
        assert run_id in service["DependsOn"]
    assert not primary.find_resources(
        "AWS::ECS::Service", {"Properties": {"TaskDefinition": {"Ref": definition}}}
    )  # no service runs it
    bootstrap = container(primary, "crm-prod-bootstrap", "bootstrap")
    assert bootstrap["EntryPoint"][:2] == ["/bin/sh", "-c"]
    assert bootstrap["EntryPoint"] != wrapper.entry_point()
    assert "Command" not in bootstrap
    values = env(bootstrap)
    assert values["HEARTBEAT_SETUP_SQL"] == heartbeat.SETUP_SQL
    assert "CREATE ROLE" in values["BOOTSTRAP_SQL"]
    assert {s["Name"] for s in bootstrap["Secrets"]} == {
        "PG_PASSWORD", "MASTER_USER", "MASTER_PASSWORD",
    }  # fmt: skip


def test_the_bootstrap_has_roles_of_its_own(primary: Template) -> None:
    """Its execution role alone reads the master's secret; its task role may do nothing."""
    bootstrap = container(primary, "crm-prod-bootstrap", "bootstrap")["_task"]
    server = container(primary, "crm-prod-server", "server")["_task"]
    assert bootstrap["ExecutionRoleArn"] != server["ExecutionRoleArn"]
    assert bootstrap["TaskRoleArn"] != server["TaskRoleArn"]
    statements = managed_policy(primary, "^What ECS needs to start the database bootstrap")
    reads = statements["ReadTheMasterAndTheApplicationUsersSecrets"]
    assert reads["Action"] == "secretsmanager:GetSecretValue" and len(reads["Resource"]) == 2
    (task_role,) = primary.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"Description": Match.string_like_regexp("^The database bootstrap task")}},
    ).values()
    assert "Policies" not in task_role["Properties"]
    assert "ManagedPolicyArns" not in task_role["Properties"]
    assert not primary.find_resources(
        "AWS::IAM::ManagedPolicy",
        {
            "Properties": {
                "Roles": Match.array_with([{"Ref": bootstrap["TaskRoleArn"]["Fn::GetAtt"][0]}])
            }
        },
    )


def test_dr_holds_the_bootstrap_task_and_nothing_runs_it(
    dr_app: Template, prod_settings: Settings
) -> None:
    """A restore from DR's vault runs it once (ops/restore_service.py, reset_logins): the
    same program as the primary's, DR's replicas of the master's and Twenty's user's
    secrets read with DR's key, its two roles named (the operator role passes them), the
    task role with no permission; no deploy runs it and no service uses it."""
    from crm_platform.naming import Names

    names = Names.of(prod_settings)
    assert not dr_app.find_resources("Custom::DatabaseBootstrap")
    bootstrap = container(dr_app, "crm-prod-bootstrap", "bootstrap")
    (definition,) = dr_app.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": "crm-prod-bootstrap"}}
    )
    assert not dr_app.find_resources(
        "AWS::ECS::Service", {"Properties": {"TaskDefinition": {"Ref": definition}}}
    )
    values = env(bootstrap)
    assert values["HEARTBEAT_SETUP_SQL"] == heartbeat.SETUP_SQL
    assert "CREATE ROLE" in values["BOOTSTRAP_SQL"]
    assert values["PG_HOST"] == env(container(dr_app, "crm-prod-server", "server"))["PG_HOST"]
    base = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:crm/prod/database/"
    assert {s["Name"]: s["ValueFrom"] for s in bootstrap["Secrets"]} == {
        "PG_PASSWORD": f"{base}app:password::",
        "MASTER_USER": f"{base}master:username::",
        "MASTER_PASSWORD": f"{base}master:password::",
    }
    statements = managed_policy(dr_app, "^What ECS needs to start the database bootstrap")
    reads = statements["ReadTheMasterAndTheApplicationUsersSecrets"]
    assert sorted(reads["Resource"]) == [f"{base}app-??????", f"{base}master-??????"]
    decrypt = statements["DecryptSecretsThroughSecretsManager"]
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == (
        "secretsmanager.ap-southeast-1.amazonaws.com"
    )
    roles = {
        r["Properties"].get("RoleName") for r in dr_app.find_resources("AWS::IAM::Role").values()
    }
    assert set(names.bootstrap_task_roles("ap-southeast-1")) <= roles
    (task_role,) = dr_app.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"Description": Match.string_like_regexp("^The database bootstrap task")}},
    ).values()
    assert "Policies" not in task_role["Properties"]
    assert "ManagedPolicyArns" not in task_role["Properties"]


def test_dr_tasks_point_at_dr_endpoints(dr_app: Template) -> None:
    values = env(container(dr_app, "crm-prod-server", "server"))
    host = json.dumps(values["PG_HOST"])
    assert "crm-prod-dr-database" in host and "ap-southeast-1" in host  # the replica
    assert "crm-prod-dr" in json.dumps(values["REDIS_HOST"])  # the DR cache


def test_commands_port_and_health(primary: Template) -> None:
    server = container(primary, "crm-prod-server", "server")
    worker = container(primary, "crm-prod-worker", "worker")
    assert server["Command"] == ["node", "dist/main"]
    assert worker["Command"] == ["yarn", "worker:prod"]
    assert server["PortMappings"] == [{"ContainerPort": 3000, "Name": "http", "Protocol": "tcp"}]
    assert "PortMappings" not in worker and "HealthCheck" not in worker
    assert "http://localhost:3000/healthz" in server["HealthCheck"]["Command"][1]
    prepare = container(primary, "crm-prod-server", "prepare-tmp")
    assert prepare["User"] == "0" and prepare["Essential"] is False
    assert prepare["Command"] == ["chmod 1777 /tmp"]


@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_services_run_privately_without_public_ips(assembly: Assembly, stack: str) -> None:
    template = assembly.template(stack)
    services = template.find_resources("AWS::ECS::Service")
    assert len(services) == 2
    for service in services.values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert all("private" in json.dumps(s) for s in network["Subnets"])


def test_server_is_blue_green_with_alarm_rollback(
    primary: Template, prod_settings: Settings
) -> None:
    (server,) = primary.find_resources(
        "AWS::ECS::Service", {"Properties": {"ServiceName": "crm-prod-server"}}
    ).values()
    deployment = server["Properties"]["DeploymentConfiguration"]
    assert deployment["Strategy"] == "BLUE_GREEN"
    assert deployment["BakeTimeInMinutes"] == prod_settings.compute.deployment.bake_minutes
    assert deployment["Alarms"]["Rollback"] is True and deployment["Alarms"]["Enable"] is True
    alarm_names = deployment["Alarms"]["AlarmNames"]
    by_ref = {r["Ref"] for r in alarm_names if isinstance(r, dict)}
    names = {
        primary.find_resources("AWS::CloudWatch::Alarm")[a]["Properties"]["AlarmName"]
        for a in by_ref
    } | {n for n in alarm_names if isinstance(n, str)}
    assert names == {
        "crm-prod-server-5xx", "crm-prod-upgrade-failed", "crm-prod-alb-latency",
        "crm-prod-ecs-cpu-server", "crm-prod-ecs-memory-server",
    }  # fmt: skip
    # Every name is an alarm of this stack, created before the service.
    defined = {a["Properties"].get("AlarmName") for a in primary.find_resources(
        "AWS::CloudWatch::Alarm").values()}  # fmt: skip
    assert names <= defined
    (lb,) = server["Properties"]["LoadBalancers"]
    advanced = lb["AdvancedConfiguration"]
    assert {"AlternateTargetGroupArn", "ProductionListenerRule", "RoleArn"} <= set(advanced)
    assert server["Properties"].get("DeploymentController") in (None, {"Type": "ECS"})


def test_worker_rolls_with_the_circuit_breaker(primary: Template) -> None:
    primary.has_resource_properties(
        "AWS::ECS::Service",
        {
            "ServiceName": "crm-prod-worker",
            "DeploymentConfiguration": Match.object_like(
                {
                    "Strategy": "ROLLING",
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                }
            ),
            "LoadBalancers": [],
        },
    )


def test_dr_starts_at_pilot_light(dr_app: Template, prod_settings: Settings) -> None:
    for service in dr_app.find_resources("AWS::ECS::Service").values():
        assert service["Properties"]["DesiredCount"] == 0
    targets = dr_app.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    limits = sorted(
        (t["Properties"]["MinCapacity"], t["Properties"]["MaxCapacity"]) for t in targets.values()
    )
    assert limits == sorted(
        [
            (0, prod_settings.compute.autoscaling_max_tasks),
            (0, prod_settings.compute.worker.desired_count),
        ]
    )


def test_server_scales_on_cpu_and_requests_per_task(
    primary: Template, prod_settings: Settings
) -> None:
    primary.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "TargetValue": prod_settings.compute.autoscaling_target_cpu_percent,
                }
            )
        },
    )
    (requests,) = [
        p
        for p in primary.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if "CustomizedMetricSpecification"
        in p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    ]
    config = requests["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == prod_settings.compute.requests_per_task_per_minute
    metrics = {m["Id"]: m for m in config["CustomizedMetricSpecification"]["Metrics"]}
    assert metrics["per_task"]["ReturnData"] is True
    # The balancer's own count (stable across blue/green swaps), not one target group's.
    dims = metrics["requests"]["MetricStat"]["Metric"]["Dimensions"]
    assert [d["Name"] for d in dims] == ["LoadBalancer"]
    (server_target,) = [
        t["Properties"]
        for t in primary.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
        if t["Properties"]["MaxCapacity"] == prod_settings.compute.autoscaling_max_tasks
    ]
    assert server_target["MinCapacity"] == prod_settings.compute.server.desired_count


def managed_policy(template: Template, description: str) -> dict[str, Any]:
    (policy,) = template.find_resources(
        "AWS::IAM::ManagedPolicy",
        {"Properties": {"Description": Match.string_like_regexp(description)}},
    ).values()
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_task_role_reaches_its_bucket_and_key_only(primary: Template) -> None:
    statements = managed_policy(primary, "^Twenty's attachments")
    assert set(statements) == {"ListTheBucket", "ObjectsOfTheBucket", "BucketKeyThroughS3"}
    assert (
        statements["ObjectsOfTheBucket"]["Resource"]
        == "arn:aws:s3:::crm-attachments-123456789012/*"
    )
    assert statements["BucketKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}
    }
    task_roles = primary.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"Description": Match.string_like_regexp("^Twenty \\(server")}},
    )
    (role,) = task_roles.values()
    assert "Policies" not in role["Properties"] and "ManagedPolicyArns" not in role["Properties"]


def test_execution_role_reads_exactly_the_task_secrets(dr_app: Template) -> None:
    statements = managed_policy(dr_app, "^Exactly what ECS needs")
    secrets = statements["ReadTwentysSecrets"]
    assert secrets["Action"] == "secretsmanager:GetSecretValue"
    resources = json.dumps(secrets["Resource"])
    for name in ("database/app-??????", "app/app-secret-??????", "app/encryption-key-??????"):
        assert name in resources
    assert "database/master" not in resources
    assert len(secrets["Resource"]) == 4  # and the DR cache token
    assert dr_app.find_resources("AWS::IAM::Policy") == {}  # nothing inline behind it


def test_load_balancer_is_hardened(primary: Template) -> None:
    (lb,) = primary.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in lb["Properties"]["LoadBalancerAttributes"]}
    assert lb["Properties"]["Scheme"] == "internet-facing"
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert "Subnets" in lb["Properties"] and all(
        "public" in json.dumps(s) for s in lb["Properties"]["Subnets"]
    )
    primary.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "DefaultActions": [
                Match.object_like(
                    {
                        "Type": "fixed-response",
                        "FixedResponseConfig": Match.object_like({"StatusCode": "403"}),
                    }
                )
            ],
        },
    )
    # HTTPS only: CloudFront's origins are https-only (ADR 0038), so no port-80 listener.
    ports = [
        r["Properties"]["Port"]
        for r in primary.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
    ]
    assert ports == [443]


def ecs_managed_rule(template: Template) -> tuple[str, dict[str, Any]]:
    """The listener rule the server's ECS blue/green moves between its target groups."""
    (server,) = template.find_resources(
        "AWS::ECS::Service", {"Properties": {"ServiceName": "crm-prod-server"}}
    ).values()
    (lb,) = server["Properties"]["LoadBalancers"]
    logical = lb["AdvancedConfiguration"]["ProductionListenerRule"]["Ref"]
    return logical, dict(
        template.find_resources("AWS::ElasticLoadBalancingV2::ListenerRule")[logical]
    )


@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_the_ecs_managed_rule_depends_on_nothing_that_changes(
    assembly: Assembly, stack: str
) -> None:
    template = assembly.template(stack)
    logical, rule = ecs_managed_rule(template)
    assert list(template.find_resources("AWS::ElasticLoadBalancingV2::ListenerRule")) == [logical]
    props = rule["Properties"]
    # One fixed condition; the origin-verify check is the guard's (tests/test_waf.py).
    assert props["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}
    ]
    assert "resolve:" not in json.dumps(props) and "X-Origin-Verify" not in json.dumps(props)
    (association,) = template.find_resources("AWS::WAFv2::WebACLAssociation")
    assert association in rule["DependsOn"]  # never forwards before the guard stands


def test_rotating_the_origin_secret_leaves_the_ecs_managed_rule_unchanged(
    assembly: Assembly, prod_settings: Settings, tmp_path: Path
) -> None:
    """The README's rotation (slot b gets a new value, pinned by VersionId, and becomes
    active) changes what the guard and CloudFront resolve, never the ECS-managed rule:
    CloudFormation has nothing to update there, so it cannot reset ECS's traffic shift."""
    version = "0123456789abcdef0123456789abcdef"
    rotated_edge = prod_settings.edge.model_copy(
        update={"origin_header": OriginHeader(active="b", versions=OriginHeaderVersions(b=version))}
    )
    rotated = synthesize(prod_settings.model_copy(update={"edge": rotated_edge}), tmp_path / "out")
    assert rotated.ok, rotated.findings
    after = Assembly(rotated)
    for stack in sorted(REGIONS):
        before_id, before = ecs_managed_rule(assembly.template(stack))
        after_id, after_rule = ecs_managed_rule(after.template(stack))
        assert (after_id, after_rule["Properties"]) == (before_id, before["Properties"]), stack
        # The rotation did reach this stack: the guard accepts the pinned new value.
        (acl_after,) = after.template(stack).find_resources("AWS::WAFv2::WebACL").values()
        assert version in json.dumps(acl_after["Properties"]), stack
    (distribution,) = (
        after.template("crm-prod-edge").find_resources("AWS::CloudFront::Distribution").values()
    )
    assert f"origin-verify-b:SecretString:::{version}" in json.dumps(distribution)


@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_certificate_covers_what_cloudfront_validates(assembly: Assembly, stack: str) -> None:
    side = "primary" if stack == "crm-prod-primary" else "dr"
    assembly.template(stack).has_resource_properties(
        "AWS::CertificateManager::Certificate",
        {
            "DomainName": "origin.crm.example.com",
            "SubjectAlternativeNames": ["crm.example.com", f"{side}.origin.crm.example.com"],
            "ValidationMethod": "DNS",
            "DomainValidationOptions": Match.array_with(
                [Match.object_like({"HostedZoneId": "Z0123456789ABCDEFGHIJ"})]
            ),
        },
    )


def test_failed_upgrade_is_alarmed_from_the_migrate_log(primary: Template) -> None:
    (f,) = primary.find_resources(
        "AWS::Logs::MetricFilter",
        {
            "Properties": {
                "MetricTransformations": [Match.object_like({"MetricName": "UpgradeFailed"})]
            }
        },
    ).values()
    pattern = f["Properties"]["FilterPattern"]
    assert '"Upgrade completed with errors"' in pattern and '"Upgrade failed"' in pattern
    (task,) = primary.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": "crm-prod-migrate"}}
    ).values()
    options = task["Properties"]["ContainerDefinitions"][-1]["LogConfiguration"]["Options"]
    assert f["Properties"]["LogGroupName"] == options["awslogs-group"]
    primary.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "crm-prod-upgrade-failed",
            "MetricName": "UpgradeFailed",
            "Threshold": 1,
            "AlarmActions": Match.any_value(),
        },
    )


def test_server_5xx_alarm_uses_the_load_balancer_dimension(primary: Template) -> None:
    (alarm,) = primary.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "crm-prod-server-5xx"}}
    ).values()
    props = alarm["Properties"]
    assert props["MetricName"] == "HTTPCode_Target_5XX_Count" and props["Threshold"] == 10
    assert [d["Name"] for d in props["Dimensions"]] == ["LoadBalancer"]
    assert "LoadBalancerFullName" in json.dumps(props["Dimensions"])


@pytest.mark.parametrize(
    ("stack", "role"), [("crm-prod-primary", "PRIMARY"), ("crm-prod-dr-app", "SECONDARY")]
)
def test_origin_failover_records(assembly: Assembly, stack: str, role: str) -> None:
    records = assembly.template(stack).find_resources("AWS::Route53::RecordSet")
    (origin,) = [
        r["Properties"]
        for r in records.values()
        if r["Properties"]["Name"] == "origin.crm.example.com."
    ]
    assert origin["Failover"] == role and origin["Type"] == "A"
    assert origin["AliasTarget"]["EvaluateTargetHealth"] is False
    assert ("HealthCheckId" in origin) == (role == "PRIMARY")
    side = "primary" if role == "PRIMARY" else "dr"
    assert any(
        r["Properties"]["Name"] == f"{side}.origin.crm.example.com." for r in records.values()
    )


@pytest.mark.parametrize("side", ["primary", "dr"])
def test_the_sql_task_runs_named_purposes_as_twentys_own_user(
    side: str, primary: Template, assembly: Assembly
) -> None:
    """One SQL family per region (docs/adr/0045): the SQL lives in the entry point, the
    caller sends only a purpose (no command, no SQL in its environment), and the login is
    the application user's secret, never the master's; its roles are its own."""
    template = primary if side == "primary" else assembly.template("crm-prod-dr-app")
    sql = container(template, "crm-prod-sql", "sql")
    assert sql["EntryPoint"] == wrapper.sql_entry_point()
    script = sql["EntryPoint"][2]
    assert "pg_is_in_recovery()" in script and "CREATE TEMP TABLE" in script
    assert "ROLLBACK;" in script and "crm_platform.heartbeat" in script
    assert "Command" not in sql  # the caller's override names the purpose
    values = env(sql)
    assert not any("SQL" in name for name in values)  # nothing a caller could swap in
    assert values["HEARTBEAT_DATABASE"] == "postgres"
    assert {s["Name"] for s in sql["Secrets"]} == {"PG_USER", "PG_PASSWORD"}
    server_container = container(template, "crm-prod-server", "server")
    twentys = {s["Name"]: s["ValueFrom"] for s in server_container["Secrets"]}
    assert all(s["ValueFrom"] == twentys[s["Name"]] for s in sql["Secrets"])  # the same login
    task = sql["_task"]
    server = server_container["_task"]
    assert task["TaskRoleArn"] != server["TaskRoleArn"]
    assert task["ExecutionRoleArn"] != server["ExecutionRoleArn"]
    (group,) = template.find_resources(
        "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": "/ecs/crm-prod-sql"}}
    ).values()
    assert "KmsKeyId" in group["Properties"]
