"""One scenario's emulated platform: moto, the modelled AWS in front of it, and who calls.

Every client the drill hands out belongs to a principal (the failover's step function
role, the probe's role, the operator). Each call it makes passes, in order:

1. the clock: an API call takes ``api.call`` seconds of modelled time;
2. the faults the scenario injects (an unreachable region, errors, throttling);
3. the authorization model: the call becomes the IAM requests AWS would authorize
   (authz/requests.py), each decided from the assembly; a denial fails the call with
   ``AccessDenied`` naming what is missing, exactly where AWS would fail it;
4. the modelled behaviour (modelled.py): answers "in progress" until the virtual clock
   passes a duration, or answers for services moto lacks;
5. moto, which keeps the state.

Every call is logged with its principal, its modelled time and its outcome; the checks
and the report read the log.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError

from crm_platform.authz.encryption import Encrypted
from crm_platform.authz.model import AuthorizationModel, Decision, Principal, Request
from crm_platform.authz.requests import Call, Unmapped, requests_for
from crm_platform.drill.emulator import CREDENTIALS
from crm_platform.failover.local_runner import VirtualClock

Client = Callable[[str, str], Any]


class Clock(VirtualClock):
    """The virtual clock, with timers: a probe every minute, an alarm evaluation, a keeper.

    Timers fire in time order while the clock moves (a step's polling wait, an API call's
    latency); a timer's own calls move the clock but never fire timers again.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        super().__init__(start)
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._order = itertools.count()
        self._firing = False

    def at(self, when: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._order), action))

    def every(self, seconds: float, action: Callable[[float], None], *, start: float) -> None:
        def tick(now: float) -> None:
            action(now)
            self.at(now + seconds, tick)

        self.at(start, tick)

    def sleep(self, seconds: float) -> None:
        target = self.t + seconds
        while not self._firing and self._timers and self._timers[0][0] <= target:
            when, _, action = heapq.heappop(self._timers)
            self.t = max(self.t, when)
            self._firing = True
            try:
                action(when)
            finally:
                self._firing = False
        self.t = max(self.t, target)

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


@dataclass
class CallRecord:
    """One API call as the drill saw it."""

    at: float
    principal: str
    call: Call
    outcome: str  # ok | denied | fault:<code> | error:<code>
    denied: list[str] = field(default_factory=list)  # explanations, for a denial


Hook = Callable[[Call, str], Any]  # (call, principal label) -> parsed response or None


@dataclass
class Hooks:
    """What the scenario puts in front of moto (set per world)."""

    fault: Callable[[Call, str], None] = lambda _c, _p: None  # raises the injected error
    before: Callable[[Call, Principal], dict[str, Any] | None] = lambda _c, _p: None
    after: Callable[[Call, dict[str, Any]], None] = lambda _c, _r: None


@cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _session() -> boto3.session.Session:
    """One boto3 session for every world: each boto3 session registers its handlers on the
    botocore session it wraps, so a second one over the shared botocore session makes the
    next S3 client fail ("Cannot inject class attribute upload_file")."""
    return boto3.session.Session(
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        botocore_session=_botocore_session(),
    )


# Clients outlive a world: creating one costs as much as a dozen calls, and every scenario
# needs the same thirty. Their hooks act for whichever world is active (one at a time).
_CLIENTS: dict[tuple[str, str, str], Any] = {}
_ACTIVE: list[World] = []


class World:
    """Clients per principal over one emulator, with the call log."""

    def __init__(
        self,
        clock: Clock,
        model: AuthorizationModel | None,
        keys: dict[str, Encrypted],
        latency: float,
    ) -> None:
        self.clock = clock
        self.model = model  # None: authorization not enforced (a test isolating one effect)
        self.keys = keys
        self.latency = latency
        self.hooks = Hooks()
        self.log: list[CallRecord] = []
        self._config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)
        # Not boto3's default session: Lambda code run by the drill finds ``boto3.client``
        # pointed at this world (as_principal_for_boto3), and this must not call itself.
        # One session for every world (``_session``), so service models load once.
        self._session = _session()

    # --- clients --------------------------------------------------------------------------
    def raw(self, service: str, region: str) -> Any:
        """A client straight to moto: what the drill itself reads and sets up (no checks)."""
        return self._client(None, service, region)

    def clients(self, principal: Principal) -> Client:
        """The client factory of one principal."""
        return lambda service, region: self._client(principal, service, region)

    def _client(self, principal: Principal | None, service: str, region: str) -> Any:
        _ACTIVE[:] = [self]
        key = (principal.arn if principal else "", service, region)
        found = _CLIENTS.get(key)
        if found is None:
            found = self._session.client(  # type: ignore[call-overload]
                service, region_name=region, config=self._config
            )
            if principal is not None:
                self._hook(found, principal, service, region)
            _CLIENTS[key] = found
        return found

    def _hook(self, client: Any, principal: Principal, service: str, region: str) -> None:
        events = client.meta.events

        def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["drill_params"] = dict(params)

        def before(model: Any, context: dict[str, Any], **_: Any) -> Any:
            call = Call(service, region, model.name, context.get("drill_params", {}))
            context["drill_call"] = call
            parsed = _ACTIVE[0]._before(call, principal)
            if parsed is None:
                return None
            return AWSResponse("https://drill", 200, HTTPHeaders(), None), parsed

        def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            call = context.get("drill_call")
            if call is not None and isinstance(parsed, dict) and "Error" not in parsed:
                _ACTIVE[0].hooks.after(call, parsed)

        events.register("before-parameter-build", keep_params)
        events.register("before-call", before)
        events.register("after-call", after)

    def _before(self, call: Call, principal: Principal) -> dict[str, Any] | None:
        self.clock.advance(self.latency)
        record = CallRecord(self.clock.now(), principal.label, call, "ok")
        self.log.append(record)
        try:
            self.hooks.fault(call, principal.label)
        except ClientError as err:
            record.outcome = f"fault:{err.response['Error']['Code']}"
            raise
        except Exception as err:
            record.outcome = f"fault:{type(err).__name__}"
            raise
        denied = self.authorize(call, principal)
        if denied:
            record.outcome, record.denied = "denied", [d.explanation for d in denied]
            first = denied[0]
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": (
                            f"{first.request.describe()} is not authorized: {first.explanation}"
                        ),
                    }
                },
                call.operation,
            )
        try:
            return self.hooks.before(call, principal)
        except ClientError as err:
            record.outcome = f"error:{err.response['Error']['Code']}"
            raise

    def act(self, call: Call, principal: Principal) -> None:
        """A call a service makes for a principal without a client (Step Functions invoking
        the step function): logged and authorized like any other, never sent to moto."""
        self.clock.advance(self.latency)
        record = CallRecord(self.clock.now(), principal.label, call, "ok")
        self.log.append(record)
        denied = self.authorize(call, principal)
        if denied:
            record.outcome, record.denied = "denied", [d.explanation for d in denied]
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": denied[0].explanation}},
                call.operation,
            )

    def requests(self, call: Call, principal: Principal) -> list[Request]:
        """The IAM requests AWS authorizes for ``call`` (with the service's KMS calls)."""
        assert self.model is not None
        try:
            return requests_for(
                call,
                principal,
                account=self.model.account,
                keys=self.keys,
                secret_arn=self.model.secret_arn,
                task_roles=self.model.task_definition_roles,
                key_arn=self.model.key_arn,
            )
        except Unmapped as err:
            raise AssertionError(f"the drill made a call the model cannot map: {err}") from err

    def authorize(self, call: Call, principal: Principal) -> list[Decision]:
        """The denials AWS would answer ``call`` with (none when not enforced)."""
        if self.model is None:
            return []
        decisions = (self.model.decide(r) for r in self.requests(call, principal))
        return [d for d in decisions if not d.allowed]

    # --- the log ----------------------------------------------------------------------------
    def calls(
        self, operation: str | None = None, outcome: str | None = "ok"
    ) -> Iterator[CallRecord]:
        for record in self.log:
            if operation is not None and record.call.operation != operation:
                continue
            if outcome is not None and record.outcome != outcome:
                continue
            yield record

    @contextmanager
    def as_principal_for_boto3(self, principal: Principal, region: str) -> Iterator[None]:
        """Run Lambda code that calls ``boto3.client(service)`` as ``principal`` in ``region``."""
        original = boto3.client

        def client(service: str, region_name: str | None = None, **_: Any) -> Any:
            return self._client(principal, service, region_name or region)

        boto3.client = client  # type: ignore[assignment]
        try:
            yield
        finally:
            boto3.client = original
