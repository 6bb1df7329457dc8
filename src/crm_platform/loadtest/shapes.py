"""The requests of the load test, in the shapes Twenty's own clients send (docs/adr/0041).

Plain data with no Locust import, so the scenario, the CLI and the tests share one copy.
Sources (twentyhq/twenty):

- REST: ``packages/twenty-server/src/engine/api/rest/core/controllers/
  rest-api-core.controller.ts`` -- ``GET /rest/<plural>`` (list), ``GET
  /rest/<plural>/<id>`` (one), ``POST /rest/<plural>`` (create, 201), ``PATCH
  /rest/<plural>/<id>`` (update), ``DELETE /rest/<plural>/<id>``; answers
  ``{"data": {"<plural>" | "<singular>" | "create<Singular>" ...: ...}}``.
- GraphQL list: ``packages/twenty-front/src/modules/object-record/utils/
  generateFindManyRecordsQuery.ts`` (``<plural>(filter, orderBy, first, after)`` with
  ``edges { node }``, ``pageInfo``, ``totalCount``).
- Search: ``packages/twenty-front/src/modules/command-menu/graphql/queries/search.ts``.
- Upload: ``packages/twenty-front/src/modules/file/graphql/mutations/
  uploadFilesFieldFile.ts`` (GraphQL multipart request: ``operations``, ``map``, the
  file), answering the file's ``url``; download: ``packages/twenty-server/src/engine/
  core-modules/file/controllers/file.controller.ts`` (``GET /file/<folder>/<id>`` with
  its token, or a redirect to a presigned S3 URL).
"""

from __future__ import annotations

GRAPHQL_PATH = "/graphql"
REST_PREFIX = "/rest"
PAGE_SIZE = 60  # what Twenty's record tables ask for per page

FIND_MANY_COMPANIES = """query FindManyCompanies($filter: CompanyFilterInput,
 $orderBy: [CompanyOrderByInput], $lastCursor: String, $limit: Int) {
  companies(filter: $filter, orderBy: $orderBy, first: $limit, after: $lastCursor) {
    edges { node { id name domainName { primaryLinkUrl } employees createdAt } cursor }
    pageInfo { hasNextPage startCursor endCursor }
    totalCount
  }
}"""

SEARCH = """query Search($searchInput: String!, $limit: Int!,
 $excludedObjectNameSingulars: [String!], $includedObjectNameSingulars: [String!],
 $filter: ObjectRecordFilterInput) {
  search(searchInput: $searchInput, limit: $limit,
   excludedObjectNameSingulars: $excludedObjectNameSingulars,
   includedObjectNameSingulars: $includedObjectNameSingulars, filter: $filter) {
    edges { node { recordId objectNameSingular label imageUrl } }
  }
}"""

CREATE_COMPANY = """mutation CreateOneCompany($input: CompanyCreateInput!) {
  createCompany(data: $input) { id name }
}"""

UPDATE_COMPANY = """mutation UpdateOneCompany($idToUpdate: UUID!, $input: CompanyUpdateInput!) {
  updateCompany(id: $idToUpdate, data: $input) { id name }
}"""

UPLOAD_FILES_FIELD_FILE = """mutation UploadFilesFieldFile($file: Upload!,
 $fieldMetadataId: String!) {
  uploadFilesFieldFile(file: $file, fieldMetadataId: $fieldMetadataId) {
    id path size createdAt url
  }
}"""

# Request names in Locust's statistics: one row per kind of request, never per record.
NAMES = {
    "list_people": "REST GET /rest/people",
    "open_person": "REST GET /rest/people/{id}",
    "create_person": "REST POST /rest/people",
    "update_person": "REST PATCH /rest/people/{id}",
    "delete_person": "REST DELETE /rest/people/{id} (clean-up)",
    "delete_company": "REST DELETE /rest/companies/{id} (clean-up)",
    "list_companies": "GraphQL FindManyCompanies",
    "search": "GraphQL Search",
    "create_company": "GraphQL CreateOneCompany",
    "update_company": "GraphQL UpdateOneCompany",
    "upload": "GraphQL UploadFilesFieldFile",
    "download": "GET /file/files-field/{id}",
}

# What the scenario and the CLI pass to the Locust process through its environment (the
# API key itself stays in the variable the operator named; only that name is passed).
ENV_API_KEY_VARIABLE = "CRM_LOADTEST_API_KEY_VARIABLE"
ENV_WAIT_MIN = "CRM_LOADTEST_WAIT_MIN"
ENV_WAIT_MAX = "CRM_LOADTEST_WAIT_MAX"
ENV_FILES_FIELD_ID = "CRM_LOADTEST_FILES_FIELD_ID"
SEARCH_TERMS = ("acme", "john", "sales", "tokyo", "inc", "ma")
