"""Which ElastiCache parameter group family fits an engine and version (no CDK import)."""

from __future__ import annotations


def parameter_group_family(engine: str, engine_version: str) -> str:
    """The parameter group family ElastiCache requires for ``engine`` at ``engine_version``.

    A family that does not match the engine's major version makes the deployment fail
    late, so an unsupported combination is refused while validating configuration. Only
    Valkey 7/8 and Redis OSS 7 are offered: older Redis lacks the TLS-required mode this
    platform sets.
    """
    major = int(engine_version.split(".", 1)[0])
    if engine == "valkey" and major in (7, 8):
        return f"valkey{major}"
    if engine == "redis" and major == 7:
        return "redis7"
    raise ValueError(
        f"no ElastiCache parameter group family known for {engine} {engine_version}; "
        "use valkey 7.x/8.x or redis 7.x"
    )
