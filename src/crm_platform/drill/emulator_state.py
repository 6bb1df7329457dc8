"""A stood-up emulator kept and put back: moto's in-memory state, deep-copied.

Standing the assembly up in moto (drill/standup.py: a few hundred create calls through
the SDK and moto's request parsing and response serialization) costs about 2.5 s of CPU on
the 2-core reference machine; a deep copy of the state it leaves costs a small fraction
of that (``benchmarks/drill_time.py``, docs/testing.md "Where the time goes"). Every
scenario of a drill, and every test that needs a freshly stood-up platform, starts from
the same state, so the stand-up runs once per process and per assembly, and each later
start puts a copy of it back into a fresh emulator. Nothing a scenario does reaches the
kept state: each start receives its own copy.

moto keeps each service's state in a ``BackendDict`` (account -> region -> backend); the
dicts in use are listed in ``BackendDict._instances``, which moto's reset walks. Those
are the state we copy, all in one ``deepcopy`` so references between services stay
shared in the copy as they were in the original. One moto class needs help to be copied:
SSM's ``ParameterDict`` is a ``defaultdict`` whose ``__init__`` takes the account and
region, which the default reduction of a ``defaultdict`` does not pass.
"""

from __future__ import annotations

import copy
import copyreg
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_kept: dict[tuple[str, str], Snapshot] = {}


@dataclass(frozen=True)
class Snapshot:
    """moto's state after a stand-up, and what the stand-up returned."""

    state: dict[Any, dict[str, Any]]  # BackendDict -> {account: AccountSpecificBackend}
    result: Any
    shared: tuple[Any, ...]  # objects the copies share with the original (read-only)


def _register_copiers() -> None:
    from moto.ssm.models import ParameterDict

    def reduce(d: ParameterDict) -> tuple[Any, ...]:
        return (_parameter_dict, (d.account_id, d.region_name), dict(vars(d)), None,
                iter(d.items()))  # fmt: skip

    copyreg.pickle(ParameterDict, reduce)


def _parameter_dict(account_id: str, region_name: str) -> Any:
    from moto.ssm.models import ParameterDict

    return ParameterDict(account_id, region_name)


def _instances() -> list[Any]:
    """moto's own list of the backend dicts in use (what its reset walks)."""
    from moto.core.base_backend import BackendDict

    instances: list[Any] = BackendDict._instances  # type: ignore[misc]
    return instances


def _in_use() -> list[Any]:
    return list(_instances())


def _copy(value: T, shared: tuple[Any, ...], keep: list[Any]) -> T:
    memo: dict[int, Any] = {id(o): o for o in (*shared, *keep)}
    return copy.deepcopy(value, memo)


def take(result: Any, shared: tuple[Any, ...] = ()) -> Snapshot:
    """Copy moto's state now (inside the emulator), with ``result``, the stand-up's
    return value; ``shared``: large read-only objects the copies keep referring to (the
    templates), not copied."""
    _register_copiers()
    dicts = _in_use()
    state = {d: dict(d) for d in dicts}
    return Snapshot(_copy(state, shared, dicts), _copy(result, shared, dicts), shared)


def put_back(snapshot: Snapshot) -> Any:
    """Replace moto's state with a fresh copy of ``snapshot``'s (inside a fresh emulator);
    returns a fresh copy of the stand-up's result."""
    _register_copiers()
    dicts = list(snapshot.state)
    state = _copy(snapshot.state, snapshot.shared, dicts)
    result = _copy(snapshot.result, snapshot.shared, dicts)
    for backend_dict in _in_use():
        if backend_dict not in state:
            backend_dict.clear()
    for backend_dict, accounts in state.items():
        backend_dict.clear()
        dict.update(backend_dict, accounts)
        if backend_dict not in _instances():
            _instances().append(backend_dict)
    return result


def digest(templates: Mapping[str, Any]) -> str:
    """What a stand-up depends on: the stacks' templates, by content."""
    text = json.dumps(templates, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def once(
    kind: str,
    templates: Mapping[str, Any],
    stand_up: Callable[[], T],
    shared: tuple[Any, ...] = (),
) -> T:
    """``stand_up()`` the first time for these templates in this process; afterwards its
    state put back into the (fresh) emulator and a copy of its result returned. ``kind``
    names what the stand-up creates beyond the templates (a filter of resources)."""
    key = (kind, digest(templates))
    with _lock:
        kept = _kept.get(key)
    if kept is not None:
        return put_back(kept)  # type: ignore[no-any-return]
    result = stand_up()
    with _lock:
        _kept[key] = take(result, shared)
    return result


def forget() -> None:
    """Drop every kept stand-up (a test that changes moto's behaviour between runs)."""
    with _lock:
        _kept.clear()
