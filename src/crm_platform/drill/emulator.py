"""The AWS emulator (moto) on loopback, as the local drill uses it.

Two gaps of moto 5 are closed here, on the drill's path only and never in the real
assembly, each a small extension with its own test:

- ``PromoteReadReplica`` only flips a status in moto: the promoted instance keeps its
  ``ReadReplicaSourceDBInstanceIdentifier`` and its source still lists it. The extension
  removes both links, as RDS does ("the read replica ... becomes a standalone DB
  instance").
- ``StopReplicationToReplica`` is not implemented: the extension turns the replica into
  a standalone secret of its region with the same versions, and removes the region from
  the primary's replication, as Secrets Manager does.

Lambda runs without Docker (moto's simple backend): the drill never executes function
code, it only needs the rotation function to exist.

Faults (an unreachable region, errors, throttling) are injected in front of the
emulator, never inside it (faults.py).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Client = Callable[[str, str], Any]
ACCOUNT = "123456789012"  # moto's default account; the drill's assembly uses the same
CREDENTIALS = {"aws_access_key_id": "drill", "aws_secret_access_key": "drill"}


_extended = False


def install_extensions() -> None:
    """Patch moto's RDS and Secrets Manager backends (idempotent; this process only)."""
    global _extended
    if _extended:
        return
    from moto.core.config import default_user_config
    from moto.rds.models import RDSBackend
    from moto.secretsmanager import models as sm_models
    from moto.secretsmanager.exceptions import InvalidParameterException
    from moto.secretsmanager.responses import SecretsManagerResponse

    original_promote = RDSBackend.promote_read_replica

    def promote(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        source_id = database.source_db_instance_identifier
        promoted = original_promote(self, db_kwargs)
        if source_id:
            try:
                source = self.find_db_from_id(source_id)
            except Exception:  # the source's region may be the one that is "down"
                source = None
            if source is not None:  # moto lists cross-region replicas by ARN
                gone = {promoted.db_instance_identifier, promoted.db_instance_arn}
                source.replicas = [r for r in source.replicas if r not in gone]
            promoted.source_db_instance_identifier = None
        return promoted

    def stop_replication(backend: Any, secret_id: str) -> str:
        replica = backend.secrets.get(secret_id)
        if replica is None:
            replica = next(
                (s for s in backend.secrets.values() if getattr(s, "name", None) == secret_id),
                None,
            )
        if not isinstance(replica, sm_models.ReplicaSecret):
            raise InvalidParameterException("Secret is not a replica secret.")
        source = replica.source
        standalone = copy.copy(source)
        standalone.arn, standalone.region = replica.arn, replica.region
        standalone.versions = copy.deepcopy(source.versions)
        standalone.replicas = []
        backend.secrets[replica.arn] = standalone
        source.replicas = [r for r in source.replicas if r.region != replica.region]
        return str(replica.arn)

    def stop_replication_to_replica(self: Any) -> str:
        arn = stop_replication(self.backend, self._get_param("SecretId"))
        return json.dumps({"ARN": arn})

    # No Docker here: Lambda invocations (the rotation test Secrets Manager runs when
    # rotation is attached) answer without starting a container.
    default_user_config["lambda"]["use_docker"] = False
    RDSBackend.promote_read_replica = promote  # type: ignore[method-assign]
    SecretsManagerResponse.stop_replication_to_replica = stop_replication_to_replica  # type: ignore[attr-defined]
    _extended = True


@contextmanager
def emulator() -> Iterator[None]:
    """A fresh, empty emulator in this process for the duration of the block.

    moto in-process (``mock_aws``) answers a call in a few milliseconds where its server on
    loopback takes five times as long; the drill makes thousands. Clients made inside the
    block without an endpoint URL reach it.
    """
    import os

    from moto import mock_aws

    # The drill reads no AMI: moto would otherwise load its thousands of default images
    # into every EC2 region the drill touches (about a second each).
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    install_extensions()
    with mock_aws():
        yield
