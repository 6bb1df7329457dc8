"""Facts that several tiers must agree on, and that a typo in one of them would break silently.

A load balancer rule, the CloudFront origin, the DR probe and the failover all name the
same header; an alarm, a dashboard, a keeper function and the drill all name the same
metric. Each fact is written once, here, on the ground floor, so every tier imports it
downwards. The Lambda code under ``*/runtime/`` must run without this package (its asset
is the folder alone), so it keeps literal copies; ``tests/test_layers.py`` proves the
copies match.
"""

from __future__ import annotations

import json

# The header CloudFront adds to every origin request and the load balancer requires
# (compute/load_balancer.py); the DR probe sends it to reach the primary origin directly.
ORIGIN_HEADER = "X-Origin-Verify"

# Every custom metric of the platform carries this dimension, valued with the
# environment's prefix (``crm-prod``), so two environments in one account never mix.
ENVIRONMENT_DIMENSION = "Environment"

# The DR region's probes of the primary (failover/runtime/probe.py), one data point a minute.
PROBE_NAMESPACE = "crm-platform/Probe"
PUBLIC_UP = "PublicUp"  # https://<domain>/healthz through CloudFront
PRIMARY_ORIGIN_UP = "PrimaryOriginUp"  # the primary's load balancer, directly
PROBE_METRICS = (PUBLIC_UP, PRIMARY_ORIGIN_UP)
# The CloudFront path that reaches the primary's load balancer whatever the switch says
# (edge/cdn.py), so the DR probe sees the primary origin as CloudFront does; only the
# health paths below it are answered.
PRIMARY_PROBE_PATH = "/_probe/primary"
# Twenty's deep health checks (its /healthz is liveness only): the probes want both.
HEALTH_PATHS = ("/healthz/database", "/healthz/redis")

# The traffic switch's signal in the DR region (failover/runtime/switch.py): Route 53's
# health check of the PRIMARY origin record follows an alarm on this metric.
SWITCH_NAMESPACE = "crm-platform/TrafficSwitch"
SERVE_FROM_DR = "ServeFromDr"

# The fence keeper's verdict in the DR region (failover/runtime/fence_keeper.py): 1 while
# DR serves and the old primary is not fenced.
FENCE_NAMESPACE = "crm-platform/Fence"
UNFENCED = "Unfenced"

# Log-derived metrics of Twenty's own tasks (compute/application.py).
TWENTY_NAMESPACE = "crm-platform/Twenty"

# Twenty's own OpenTelemetry metrics, shipped by the collector sidecar as EMF
# (compute/telemetry.py), when telemetry.enabled.
TWENTY_TELEMETRY_NAMESPACE = "crm-platform/TwentyTelemetry"

# The AWS Distro for OpenTelemetry collector the sidecar runs, pinned (never "latest"):
# one name for the registry work that mirrors upstream images into our own ECR.
ADOT_COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.45.1"

# What the restore-test validator publishes (backup/restore_testing.py).
BACKUP_NAMESPACE = "crm-platform/Backup"


# The failed-over state: a JSON String parameter in the DR region, written only forward
# by the failover ("none" -> "failing-over" -> "failed-over") and reset by failback.
# Deploys and releases read it first: while it is not "none" the primary's database is
# stale, and migrating it or shipping its release to DR would overwrite what serves.
FAILOVER_NONE = "none"


def failover_state(raw: str) -> str:
    """The state named in the parameter's value ("none" when it names none)."""
    value = json.loads(raw)
    return str(value.get("state", FAILOVER_NONE)) if isinstance(value, dict) else FAILOVER_NONE


# --- the RDS certificate bundle baked into the published image (docs/adr/0039) ----------
# AWS's bundle of every region's RDS CAs ("Certificate bundles for all AWS Regions",
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html): one file
# valid in the primary and the DR region, fetched by every publish build.
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
# Where the derived image holds it: outside /tmp, which the tasks mount a volume over.
RDS_CA_BUNDLE_PATH = "/usr/local/share/crm-platform/rds-ca-bundle.pem"


# --- the SQL task (compute/sql_task.py runs it, failover/runtime/sql_task.py reads it) ---
# One per region: its container's name (and awslogs stream prefix), the family's role,
# the line it prints, and its log group (named, so the failover's role in another stack
# can be granted logs:GetLogEvents on it).
SQL_TASK_ROLE = "sql"
SQL_RESULT_MARKER = "crm-platform: sql"


def sql_task_log_group(family: str) -> str:
    return f"/ecs/{family}"
