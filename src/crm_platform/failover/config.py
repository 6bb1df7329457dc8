"""What a failover run needs to know, derived from the settings (handed to the steps as JSON).

Kept here, once, so the state machine's step function and the local drill run the same
steps with the same facts.
"""

from __future__ import annotations

import string
from typing import Any

from crm_platform.naming import Names


def failover_config(names: Names, *, alert_topic_arn: str) -> dict[str, Any]:
    s = names.settings
    c = s.compute
    return {
        "environment": names.prefix,
        "primary_region": s.regions.primary,
        "dr_region": s.regions.dr,
        "replica": names.db_replica,
        "replica_lag_alarm": names.replica_lag_alarm,
        "backup_retention_days": s.database.backup_retention_days,
        "backup_window": s.database.backup_window,
        "backup_tag": list(names.backup_selection_tag),
        "multi_az": s.database.multi_az,
        "secrets": list(names.dr_stack_secret_names),
        "db_secret": names.db_secret,
        "rotation_function": names.dr_rotation_function,
        "rotation_days": s.database.credentials_rotation_days,
        "rotation_exclude_characters": string.punctuation + " ",
        "clusters": {
            "primary": names.ecs_cluster(s.regions.primary),
            "dr": names.ecs_cluster(s.regions.dr),
        },
        "services": {
            "server": {
                "name": names.server_service,
                "desired": c.server.desired_count,
                "max": c.autoscaling_max_tasks,
            },
            "worker": {
                "name": names.worker_service,
                "desired": c.worker.desired_count,
                "max": c.worker.desired_count,
            },
        },
        "switch_parameter": names.switch_parameter,
        "failover_parameter": names.failover_parameter,
        "impaired_alarm": names.impaired_alarm,
        "runs_table": names.failover_runs_table,
        "state_machine": names.failover_state_machine,
        "alert_topic_arn": alert_topic_arn,
        "public_url": names.public_url,
        "rpo_seconds": s.dr.rpo_seconds,
    }
