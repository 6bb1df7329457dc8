"""The rotation follow-up: every service in the cluster is force-redeployed (moto ECS)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from crm_platform.database.runtime import roll_services


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(var, value)


@mock_aws
def test_rolls_every_service_of_the_cluster() -> None:
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="crm-prod-cluster")
    ecs.register_task_definition(
        family="twenty",
        containerDefinitions=[{"name": "app", "image": "twentycrm/twenty", "memory": 512}],
    )
    for name in ("server", "worker"):
        ecs.create_service(
            cluster="crm-prod-cluster", serviceName=name, taskDefinition="twenty", desiredCount=1
        )
    ecs.create_cluster(clusterName="other")
    ecs.create_service(cluster="other", serviceName="x", taskDefinition="twenty", desiredCount=1)

    rolled = roll_services.roll("crm-prod-cluster", ecs)

    assert sorted(arn.rsplit("/", 1)[-1] for arn in rolled) == ["server", "worker"]


@mock_aws
def test_missing_cluster_rolls_nothing_and_does_not_fail() -> None:
    assert roll_services.roll("absent", boto3.client("ecs")) == []


@mock_aws
def test_handler_reads_the_cluster_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("ecs").create_cluster(clusterName="crm-prod-cluster")
    monkeypatch.setenv("CLUSTER_NAME", "crm-prod-cluster")
    event = {"detail": {"name": "crm/prod/database/master", "labelUpdated": "AWSCURRENT"}}
    result = roll_services.handler(event, None)
    assert result == {"cluster": "crm-prod-cluster", "rolled": []}
