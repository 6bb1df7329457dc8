"""The Locust file: one simulated person working in Twenty through its public API.

Run only by Locust, in its own process (loadtest/run.py): importing Locust patches the
standard library with gevent, which must never happen in the CLI or the test runner.

Each user lists and searches people and companies, opens records, and (less often)
creates and updates records and uploads and downloads an attachment, with the weights
below (reading dominates CRM use). It changes only records it created itself, tagged
``loadtest``, and deletes them when it stops, so a run leaves no data behind but what
failed to delete. A GraphQL answer with ``errors`` counts as a failure (Twenty answers
them with HTTP 200).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

from locust import HttpUser, between, events, task

from crm_platform.loadtest import shapes as s

API_KEY = os.environ.get(os.environ.get(s.ENV_API_KEY_VARIABLE, ""), "")
FILES_FIELD_ID = os.environ.get(s.ENV_FILES_FIELD_ID, "")


def _require_key(environment: Any, **_kwargs: Any) -> None:
    if not API_KEY:
        raise SystemExit(f"{os.environ.get(s.ENV_API_KEY_VARIABLE)} holds no API key")


events.init.add_listener(_require_key)  # type: ignore[no-untyped-call]


class TwentyUser(HttpUser):
    wait_time = between(
        float(os.environ.get(s.ENV_WAIT_MIN, "1")), float(os.environ.get(s.ENV_WAIT_MAX, "5"))
    )

    def on_start(self) -> None:
        self.client.headers.update({"Authorization": f"Bearer {API_KEY}"})
        self.people: list[str] = []  # ids seen in lists (opened, never changed)
        self.mine: list[str] = []  # people this user created (updated, then deleted)
        self.my_companies: list[str] = []

    def on_stop(self) -> None:
        for person in self.mine:
            self.client.delete(f"{s.REST_PREFIX}/people/{person}", name=s.NAMES["delete_person"])
        for company in self.my_companies:
            self.client.delete(
                f"{s.REST_PREFIX}/companies/{company}", name=s.NAMES["delete_company"]
            )

    def _graphql(self, name: str, query: str, variables: dict[str, Any]) -> Any:
        with self.client.post(
            s.GRAPHQL_PATH,
            json={"operationName": name, "query": query, "variables": variables},
            name=s.NAMES[_key(name)],
            catch_response=True,
        ) as response:
            body = _json(response)
            if response.status_code != 200 or body is None or body.get("errors"):
                response.failure(f"{response.status_code}: {str(body)[:200]}")
                return None
            return body.get("data")

    @task(6)
    def list_people(self) -> None:
        with self.client.get(
            f"{s.REST_PREFIX}/people",
            params={"limit": s.PAGE_SIZE, "order_by": "createdAt[DescNullsLast]"},
            name=s.NAMES["list_people"],
            catch_response=True,
        ) as response:
            body = _json(response)
            people = ((body or {}).get("data") or {}).get("people")
            if response.status_code != 200 or not isinstance(people, list):
                response.failure(f"{response.status_code}: no data.people")
                return
            self.people = [p["id"] for p in people if isinstance(p, dict) and "id" in p]

    @task(5)
    def open_person(self) -> None:
        if not self.people:
            self.list_people()
            return
        self.client.get(
            f"{s.REST_PREFIX}/people/{random.choice(self.people)}",  # noqa: S311
            params={"depth": 1},
            name=s.NAMES["open_person"],
        )

    @task(4)
    def list_companies(self) -> None:
        self._graphql(
            "FindManyCompanies",
            s.FIND_MANY_COMPANIES,
            {"limit": s.PAGE_SIZE, "orderBy": [{"createdAt": "DescNullsLast"}]},
        )

    @task(4)
    def search(self) -> None:
        self._graphql(
            "Search",
            s.SEARCH,
            {
                "searchInput": random.choice(s.SEARCH_TERMS),  # noqa: S311
                "limit": 50,
                "includedObjectNameSingulars": ["person", "company"],
            },
        )

    @task(1)
    def create_and_update_person(self) -> None:
        tag = uuid.uuid4().hex[:8]
        with self.client.post(
            f"{s.REST_PREFIX}/people",
            json={"name": {"firstName": "loadtest", "lastName": tag}, "jobTitle": "loadtest"},
            name=s.NAMES["create_person"],
            catch_response=True,
        ) as response:
            created = ((_json(response) or {}).get("data") or {}).get("createPerson")
            if response.status_code not in (200, 201) or not isinstance(created, dict):
                response.failure(f"{response.status_code}: no data.createPerson")
                return
        self.mine.append(created["id"])
        self.client.patch(
            f"{s.REST_PREFIX}/people/{created['id']}",
            json={"jobTitle": f"loadtest {tag} updated"},
            name=s.NAMES["update_person"],
        )

    @task(1)
    def create_and_update_company(self) -> None:
        tag = uuid.uuid4().hex[:8]
        data = self._graphql(
            "CreateOneCompany", s.CREATE_COMPANY, {"input": {"name": f"loadtest {tag}"}}
        )
        created = (data or {}).get("createCompany")
        if not isinstance(created, dict):
            return
        self.my_companies.append(created["id"])
        self._graphql(
            "UpdateOneCompany",
            s.UPDATE_COMPANY,
            {"idToUpdate": created["id"], "input": {"name": f"loadtest {tag} updated"}},
        )

    @task(1)
    def attachment(self) -> None:
        """Upload a small file as Twenty's front does, then download it by its URL."""
        if not FILES_FIELD_ID:
            return  # no files field named (--files-field-id): the pair is not exercised
        operations = {
            "operationName": "UploadFilesFieldFile",
            "query": s.UPLOAD_FILES_FIELD_FILE,
            "variables": {"file": None, "fieldMetadataId": FILES_FIELD_ID},
        }
        with self.client.post(
            s.GRAPHQL_PATH,
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": ("loadtest.txt", os.urandom(16 * 1024), "text/plain")},
            headers={"x-apollo-operation-name": "UploadFilesFieldFile"},
            name=s.NAMES["upload"],
            catch_response=True,
        ) as response:
            body = _json(response) or {}
            uploaded = (body.get("data") or {}).get("uploadFilesFieldFile")
            if response.status_code != 200 or body.get("errors") or not isinstance(uploaded, dict):
                response.failure(f"{response.status_code}: {str(body)[:200]}")
                return
        self.client.get(uploaded["url"], name=s.NAMES["download"])


def _key(operation: str) -> str:
    return {
        "FindManyCompanies": "list_companies",
        "Search": "search",
        "CreateOneCompany": "create_company",
        "UpdateOneCompany": "update_company",
    }[operation]


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
