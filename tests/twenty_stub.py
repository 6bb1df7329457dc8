"""A stand-in for Twenty's public API on 127.0.0.1, for the load test's tests.

It answers the routes the scenario uses in the shapes Twenty answers them (REST
``data.<plural>``/``data.create<Singular>``, GraphQL ``data``/``errors``, a multipart
upload), refuses requests without the expected bearer key, and counts what it served.
``delay`` slows every answer; ``failing`` names routes that answer 500.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "test-api-key-never-on-a-command-line"
ONE = re.compile(r"^/rest/(people|companies)/([0-9a-f-]{36})$")
FILE = re.compile(r"^/file/files-field/([0-9a-f-]{36})$")


class Stub:
    def __init__(self, delay: float = 0.0, failing: frozenset[str] = frozenset()) -> None:
        self.delay, self.failing = delay, failing
        self.hits: Counter[str] = Counter()
        self.people = [str(uuid.uuid4()) for _ in range(5)]
        self.lock = threading.Lock()


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            route = _route_of(method, path, body, self.headers.get("Content-Type", ""))
            with stub.lock:
                stub.hits[route] += 1
            time.sleep(stub.delay)
            if self.headers.get("Authorization") != f"Bearer {KEY}" and not route.startswith(
                "GET /file/"
            ):
                self._send(401, {"statusCode": 401, "messages": ["Unauthorized"]})
            elif route in stub.failing:
                self._send(500, {"statusCode": 500})
            else:
                status, answer = _answer(stub, route, path, body)
                self._send(status, answer, "text/plain" if isinstance(answer, bytes) else
                           "application/json")  # fmt: skip

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PATCH(self) -> None:
            self._route("PATCH")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


def _route_of(method: str, path: str, body: bytes, content_type: str) -> str:
    if path == "/graphql":
        if content_type.startswith("multipart/form-data"):
            return "POST /graphql multipart UploadFilesFieldFile"
        return f"POST /graphql {json.loads(body).get('operationName')}"
    if ONE.match(path):
        return f"{method} /rest/{ONE.match(path)[1]}/{{id}}"  # type: ignore[index]
    if FILE.match(path):
        return "GET /file/files-field/{id}"
    return f"{method} {path}"


def _answer(stub: Stub, route: str, path: str, body: bytes) -> tuple[int, Any]:
    new = str(uuid.uuid4())
    match route:
        case "GET /rest/people":
            return 200, {"data": {"people": [{"id": p} for p in stub.people]},
                         "totalCount": len(stub.people)}  # fmt: skip
        case "GET /rest/people/{id}":
            return 200, {"data": {"person": {"id": path.rsplit("/", 1)[1]}}}
        case "POST /rest/people":
            return 201, {"data": {"createPerson": {"id": new, **json.loads(body)}}}
        case "PATCH /rest/people/{id}":
            return 200, {"data": {"updatePerson": {"id": path.rsplit("/", 1)[1]}}}
        case "DELETE /rest/people/{id}" | "DELETE /rest/companies/{id}":
            return 200, {"data": {"deleted": {"id": path.rsplit("/", 1)[1]}}}
        case "POST /graphql FindManyCompanies":
            return 200, {"data": {"companies": {"edges": [], "pageInfo": {}, "totalCount": 0}}}
        case "POST /graphql Search":
            return 200, {"data": {"search": {"edges": []}}}
        case "POST /graphql CreateOneCompany":
            return 200, {"data": {"createCompany": {"id": new, "name": "x"}}}
        case "POST /graphql UpdateOneCompany":
            return 200, {"data": {"updateCompany": {"id": new, "name": "y"}}}
        case "POST /graphql multipart UploadFilesFieldFile":
            if b'name="0"; filename="loadtest.txt"' not in body or b"fieldMetadataId" not in body:
                return 200, {"errors": [{"message": "not a multipart upload"}]}
            return 200, {"data": {"uploadFilesFieldFile": {
                "id": new, "path": f"files-field/{new}", "size": 1, "createdAt": "",
                "url": f"/file/files-field/{new}?token=t"}}}  # fmt: skip
        case "GET /file/files-field/{id}":
            return 200, b"x" * 1024
    return 404, {"statusCode": 404, "route": route}


@contextmanager
def serving(stub: Stub) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
