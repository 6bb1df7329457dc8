"""What the rotation roll needs (needs.py): database/runtime/roll_services.py.

After Secrets Manager rotates the database password it reads which version is current
(in the primary, then in the DR replica) and forces a new deployment of the four
services, so every task reads the new password.
"""

from __future__ import annotations

from crm_platform.naming import Names
from crm_platform.needs import Need, Who


def needs(names: Names) -> list[Need]:
    who = Who(names.primary_stack, "Database/RollServices/Role")
    found = [
        Need.call(
            who,
            f"read the rotated secret's versions in {region}",
            "secretsmanager",
            region,
            "DescribeSecret",
            SecretId=names.db_secret,
        )
        for region in (names.primary_region, names.dr_region)
    ]
    for region in (names.primary_region, names.dr_region):
        for service in (names.server_service, names.worker_service):
            found.append(
                Need.call(
                    who,
                    f"roll {service} in {region}",
                    "ecs",
                    region,
                    "UpdateService",
                    cluster=names.ecs_cluster(region),
                    service=service,
                )
            )
    return found
