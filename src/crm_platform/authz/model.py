"""Who may do what, read from the synthesized assembly, decided as AWS would decide it.

What the model reads, per stack:

- **principals**: every IAM role, with its identity policies (inline ``Policies``,
  ``AWS::IAM::Policy`` and customer-managed ``AWS::IAM::ManagedPolicy`` resources that name
  it, AWS-managed policies attached by ARN, from the vendored ``managed_policies.json``
  with their version), its permission boundary and its trust policy; AWS service
  principals (``dynamodb.amazonaws.com``) and the CDK bootstrap's CloudFormation execution
  role (``AdministratorAccess``, what ``cdk bootstrap`` gives it by default), which creates
  every resource;
- **resource policies** where the service uses them: KMS key policies (with aliases),
  SNS topic policies, S3 bucket policies, Secrets Manager resource policies, Lambda
  permissions (turned into statements) and role trust policies;
- **encrypted resources** (encryption.py): which key protects which resource, so a call
  on the resource can carry the KMS calls its service makes for the caller.

Every value is resolved to the concrete ARN it would have in the deployment's account and
regions (assembly/physical.py). Requests are decided by the IAM evaluator
(simulator.py), which applies the rule that a key policy must allow a principal (directly
or by delegating to IAM through the account) before IAM counts, and the same-account rule
for the other resource policies.

Not evaluated: service control and resource control policies of an AWS Organization,
session policies, KMS grants created by hand (the grants services create for their own
resources are modelled as the service's calls), S3 ACLs, VPC endpoint policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from crm_platform.assembly.intrinsics import Unresolved
from crm_platform.assembly.physical import PhysicalResources, secret_suffix
from crm_platform.assembly.reader import StackTemplate, load
from crm_platform.authz.simulator import Answer, simulator

PrincipalKind = Literal["role", "service", "missing"]
Context = Mapping[str, str | list[str] | tuple[str, ...]]


@cache
def managed_policies() -> dict[str, Any]:
    """AWS-managed policy documents the assembly attaches, by name (vendored, versioned)."""
    data: dict[str, Any] = json.loads(
        (Path(__file__).resolve().parent / "managed_policies.json").read_text()
    )["policies"]
    return data


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    arn: str  # a role's ARN, or a service principal such as dynamodb.amazonaws.com
    label: str  # what a person reads: stack/construct path, or the service
    account: str

    @property
    def exists(self) -> bool:
        return self.kind != "missing"


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str  # a concrete ARN, or "*" for actions without resource-level permissions
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    why: str = ""  # what made this call: "dynamodb:UpdateItem on crm-prod-dr-runs uses its key"

    @staticmethod
    def of(
        principal: Principal,
        action: str,
        resource: str,
        context: Context | None = None,
        why: str = "",
    ) -> Request:
        items = tuple(
            sorted((k, v if isinstance(v, str) else tuple(v)) for k, v in (context or {}).items())
        )
        return Request(principal, action, resource, items, why)

    def describe(self) -> str:
        ctx = ", ".join(
            f"{k}={'|'.join(v) if isinstance(v, tuple) else v}" for k, v in self.context
        )
        return f"{self.principal.label}: {self.action} on {self.resource}" + (
            f" [{ctx}]" if ctx else ""
        )


@dataclass(frozen=True)
class Decision:
    request: Request
    answer: Answer
    explanation: str  # for a denial: what is missing and what would have to change

    @property
    def allowed(self) -> bool:
        return self.answer.allowed


@dataclass
class Role:
    arn: str
    name: str
    stack: str
    path: str  # the construct path of the role (stack/.../Role)
    trust: dict[str, Any]
    policies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    boundary: dict[str, Any] | None = None
    aws_managed: set[str] = field(default_factory=set)  # names in ``policies`` AWS wrote

    def own_statements(self) -> list[dict[str, Any]]:
        """The statements this platform wrote for the role (not AWS-managed policies)."""
        return [
            s
            for name, document in self.policies
            if name not in self.aws_managed
            for s in (document or {}).get("Statement", [])
        ]

    def principal(self, account: str) -> Principal:
        return Principal("role", self.arn, self.path.removesuffix("/Resource"), account)


@dataclass(frozen=True)
class ResourcePolicy:
    label: str
    document: dict[str, Any]


class AuthorizationModel:
    """The assembly's principals and policies; ``decide`` answers one request."""

    def __init__(self, stacks: Mapping[str, StackTemplate]) -> None:
        self.stacks = stacks
        self.physical = PhysicalResources(stacks)
        self.account = next(iter(stacks.values())).account if stacks else "000000000000"
        self.roles: dict[str, Role] = {}
        self.policies: dict[str, ResourcePolicy] = {}  # by resource ARN (keys, topics, ...)
        self.aliases: dict[str, str] = {}  # alias ARN -> key ARN
        self.problems: list[str] = []  # values the model could not resolve
        self._administrators: set[str] = set()
        for stack in stacks.values():
            self._read_keys(stack)
        for stack in stacks.values():
            self._read_roles(stack)
            self._read_resource_policies(stack)

    @classmethod
    def load(cls, outdir: Path) -> AuthorizationModel:
        return cls(load(outdir))

    # --- principals -------------------------------------------------------------------
    def role(self, stack: str, path_contains: str) -> Principal:
        """The one role of ``stack`` whose construct path contains ``path_contains``;
        a ``missing`` principal (never allowed anything) when there is none."""
        found = [r for r in self.roles.values() if r.stack == stack and path_contains in r.path]
        if len(found) > 1:
            raise ValueError(
                f"{len(found)} roles of {stack} match {path_contains!r}: "
                + ", ".join(r.path for r in found)
            )
        if not found:
            return Principal(
                "missing", f"{stack}/{path_contains}", f"{stack}/{path_contains}", self.account
            )
        return found[0].principal(self.account)

    def role_named(self, name: str) -> Principal:
        for role in self.roles.values():
            if role.name == name:
                return role.principal(self.account)
        return Principal("missing", name, f"role {name}", self.account)

    def role_of_function(self, stack: str, handler: str) -> Principal:
        """The execution role of the Lambda function of ``stack`` running ``handler``."""
        st = self.stacks[stack]
        for props in (
            r.get("Properties", {}) for r in st.of_type("AWS::Lambda::Function").values()
        ):
            if props.get("Handler") == handler:
                arn = self.physical.resolve(props["Role"], st)
                role = self.roles.get(arn)
                if role is not None:
                    return role.principal(self.account)
        return Principal(
            "missing", f"{stack}:{handler}", f"{stack} function {handler}", self.account
        )

    def function_arn(self, stack: str, handler: str) -> str:
        """The ARN of the Lambda function of ``stack`` running ``handler``."""
        st = self.stacks[stack]
        for logical, resource in st.of_type("AWS::Lambda::Function").items():
            if resource.get("Properties", {}).get("Handler") == handler:
                return self.physical.arn(logical, st)
        raise KeyError(f"{stack} has no function running {handler}")

    def service(self, name: str) -> Principal:
        return Principal("service", name, name, self.account)

    def cloudformation(self, stack: str) -> Principal:
        """The CDK bootstrap's CloudFormation execution role, which creates the stack."""
        region = self.stacks[stack].region
        name = f"cdk-hnb659fds-cfn-exec-role-{self.account}-{region}"
        return self.administrator(name, f"CloudFormation ({stack})")

    def administrator(self, name: str, label: str) -> Principal:
        """A role outside the assembly with ``AdministratorAccess`` (what the CDK bootstrap
        gives CloudFormation, and what an operator without a role of their own holds)."""
        arn = f"arn:aws:iam::{self.account}:role/{name}"
        self._administrators.add(arn)
        return Principal("role", arn, label, self.account)

    def _identity(self, principal: Principal) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if principal.arn in self._administrators:
            admin = managed_policies()["AdministratorAccess"]["document"]
            return [{"name": "AdministratorAccess", "policy": admin}], None
        role = self.roles.get(principal.arn)
        if role is None:
            return [], None
        return [{"name": n, "policy": d} for n, d in role.policies], role.boundary

    # --- reading the templates ----------------------------------------------------------
    def _resolve(self, value: Any, stack: StackTemplate, what: str) -> Any:
        try:
            return self.physical.resolve(value, stack)
        except (Unresolved, KeyError, IndexError, TypeError) as err:
            self.problems.append(f"{stack.name}: {what}: cannot resolve {err}")
            return None

    def _read_keys(self, stack: StackTemplate) -> None:
        for logical, resource in stack.of_type("AWS::KMS::Key").items():
            arn = self.physical.arn(logical, stack)
            document = self._resolve(resource["Properties"].get("KeyPolicy"), stack, logical)
            self.policies[arn] = ResourcePolicy(f"key policy of {stack.path(logical)}", document)
        for logical, resource in stack.of_type("AWS::KMS::Alias").items():
            props = resource["Properties"]
            target = str(self._resolve(props["TargetKeyId"], stack, logical))
            key = (
                target
                if target.startswith("arn:")
                else (f"arn:aws:kms:{stack.region}:{stack.account}:key/{target}")
            )
            self.aliases[f"arn:aws:kms:{stack.region}:{stack.account}:{props['AliasName']}"] = key

    def task_definition_roles(self, region: str, family: str) -> list[str]:
        """The role ARNs a task definition of ``family`` in ``region`` hands to ECS: what
        ``RunTask`` needs ``iam:PassRole`` for (the ECS developer guide's "task IAM role"
        and "task execution IAM role" pages)."""
        found: list[str] = []
        for stack in self.stacks.values():
            if stack.region != region:
                continue
            for logical, resource in stack.of_type("AWS::ECS::TaskDefinition").items():
                props = resource.get("Properties", {})
                if props.get("Family") != family:
                    continue
                for key in ("TaskRoleArn", "ExecutionRoleArn"):
                    if key in props:
                        arn = self._resolve(props[key], stack, f"{logical}.{key}")
                        if arn:
                            found.append(str(arn))
        return found

    def secret_arn(self, name: str, region: str) -> str:
        """A secret's ARN from its name (replicas keep the primary's random suffix)."""
        return f"arn:aws:secretsmanager:{region}:{self.account}:secret:{name}-{secret_suffix(name)}"

    def key_arn(self, key: str, region: str) -> str:
        """A key's ARN from an ARN, an alias ARN, an alias name or a key id."""
        if key.startswith("arn:aws:kms:") and ":alias/" in key:
            return self.aliases.get(key, key)
        if key.startswith("alias/"):
            return self.aliases.get(f"arn:aws:kms:{region}:{self.account}:{key}", key)
        if key.startswith("arn:"):
            return key
        return f"arn:aws:kms:{region}:{self.account}:key/{key}"

    def _read_roles(self, stack: StackTemplate) -> None:
        by_ref: dict[str, Role] = {}
        for logical, resource in stack.of_type("AWS::IAM::Role").items():
            props = resource["Properties"]
            arn = self.physical.arn(logical, stack)
            role = Role(
                arn=arn,
                name=self.physical.ref(logical, stack),
                stack=stack.name,
                path=stack.path(logical),
                trust=self._resolve(props["AssumeRolePolicyDocument"], stack, logical) or {},
            )
            for inline in props.get("Policies", []):
                doc = self._resolve(inline["PolicyDocument"], stack, logical)
                role.policies.append((str(inline["PolicyName"]), doc))
            for ref in props.get("ManagedPolicyArns", []):
                attached = self._resolve(ref, stack, logical)
                managed = self._managed(attached, stack)
                if managed is not None:
                    role.policies.append(managed)
                    if str(attached).startswith("arn:aws:iam::aws:policy/"):
                        role.aws_managed.add(managed[0])
            if "PermissionsBoundary" in props:
                found = self._managed(
                    self._resolve(props["PermissionsBoundary"], stack, logical), stack
                )
                role.boundary = found[1] if found else None
            self.roles[arn] = role
            by_ref[role.name] = role
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for logical, resource in stack.of_type(kind).items():
                props = resource["Properties"]
                doc = self._resolve(props["PolicyDocument"], stack, logical)
                for ref in props.get("Roles", []):
                    name = str(self._resolve(ref, stack, logical))
                    named = by_ref.get(name) or next(
                        (r for r in self.roles.values() if r.name == name), None
                    )
                    if named is not None:
                        named.policies.append((stack.path(logical).removesuffix("/Resource"), doc))

    def _managed(self, arn: Any, stack: StackTemplate) -> tuple[str, dict[str, Any]] | None:
        """An attached managed policy: AWS's (vendored) or one of the assembly's."""
        if not isinstance(arn, str):
            return None
        if arn.startswith("arn:aws:iam::aws:policy/"):
            name = arn.rsplit("/", 1)[-1]
            found = managed_policies().get(name)
            if found is None:
                self.problems.append(f"AWS managed policy {name} is not vendored (authz/)")
                return None
            return f"{name} ({found['version']})", found["document"]
        for st in self.stacks.values():
            for logical, resource in st.of_type("AWS::IAM::ManagedPolicy").items():
                if self.physical.ref(logical, st) == arn:
                    doc = self._resolve(resource["Properties"]["PolicyDocument"], st, logical)
                    return st.path(logical).removesuffix("/Resource"), doc
        return None

    def _read_resource_policies(self, stack: StackTemplate) -> None:
        def add(arn: str, label: str, statements: Iterable[dict[str, Any]]) -> None:
            existing = self.policies.get(arn)
            merged = [*(existing.document["Statement"] if existing else []), *statements]
            self.policies[arn] = ResourcePolicy(
                label, {"Version": "2012-10-17", "Statement": merged}
            )

        for logical, resource in stack.of_type("AWS::SNS::TopicPolicy").items():
            props = resource["Properties"]
            doc = self._resolve(props["PolicyDocument"], stack, logical) or {"Statement": []}
            for topic in props["Topics"]:
                arn = str(self._resolve(topic, stack, logical))
                add(arn, f"topic policy of {arn.rsplit(':', 1)[-1]}", doc["Statement"])
        for logical, resource in stack.of_type("AWS::S3::BucketPolicy").items():
            props = resource["Properties"]
            doc = self._resolve(props["PolicyDocument"], stack, logical) or {"Statement": []}
            bucket = str(self._resolve(props["Bucket"], stack, logical))
            add(f"arn:aws:s3:::{bucket}", f"bucket policy of {bucket}", doc["Statement"])
        for logical, resource in stack.of_type("AWS::SecretsManager::ResourcePolicy").items():
            props = resource["Properties"]
            doc = self._resolve(props["ResourcePolicy"], stack, logical) or {"Statement": []}
            arn = str(self._resolve(props["SecretId"], stack, logical))
            add(arn, f"resource policy of secret {arn.rsplit(':', 1)[-1]}", doc["Statement"])
        for logical, resource in stack.of_type("AWS::Lambda::Permission").items():
            props = self._resolve(resource["Properties"], stack, logical) or {}
            function = str(props.get("FunctionName", ""))
            principal = str(props.get("Principal", ""))
            statement: dict[str, Any] = {
                "Sid": logical,
                "Effect": "Allow",
                "Principal": {"Service": principal}
                if principal.endswith(".amazonaws.com")
                else {"AWS": principal},
                "Action": props.get("Action"),
                "Resource": function,
            }
            conditions: dict[str, Any] = {}
            if "SourceArn" in props:
                conditions["ArnLike"] = {"aws:SourceArn": props["SourceArn"]}
            if "SourceAccount" in props:
                conditions["StringEquals"] = {"aws:SourceAccount": props["SourceAccount"]}
            if conditions:
                statement["Condition"] = conditions
            add(function, f"permissions of function {function.rsplit(':', 1)[-1]}", [statement])
        for logical, resource in stack.of_type("AWS::DynamoDB::Table").items():
            policy = resource["Properties"].get("ResourcePolicy")
            if policy:
                arn = self.physical.arn(logical, stack)
                doc = self._resolve(policy["PolicyDocument"], stack, logical)
                if doc:
                    add(arn, f"resource policy of table {arn.rsplit('/', 1)[-1]}", doc["Statement"])
        for logical, resource in stack.of_type("AWS::ECR::Repository").items():
            text = resource["Properties"].get("RepositoryPolicyText")
            if text:
                arn = self.physical.arn(logical, stack)
                doc = self._resolve(text, stack, logical)
                add(arn, f"repository policy of {arn.rsplit('/', 1)[-1]}", doc["Statement"])

    # --- deciding -----------------------------------------------------------------------
    def _resource_policy(self, action: str, resource: str) -> ResourcePolicy | None:
        service = action.split(":", 1)[0]
        if service == "kms":
            return self.policies.get(resource)
        if service == "sts" and action.lower() in ("sts:assumerole", "sts:tagsession"):
            role = self.roles.get(resource)
            return ResourcePolicy(f"trust policy of {role.path}", role.trust) if role else None
        if service == "s3":
            bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            return self.policies.get(f"arn:aws:s3:::{bucket}")
        return self.policies.get(resource)

    def decide(self, request: Request) -> Decision:
        principal = request.principal
        if not principal.exists:
            answer = Answer("NoPrincipal", error="no such principal")
            return Decision(request, answer, f"{principal.label} does not exist in the assembly")
        resource = request.resource
        if request.action.startswith("kms:") and resource != "*":
            region = resource.split(":")[3] if resource.startswith("arn:") else ""
            resource = self.key_arn(resource, region)
        context: dict[str, Any] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in request.context
        }
        if principal.kind == "role":
            context.setdefault("aws:PrincipalArn", principal.arn)
            context.setdefault("aws:PrincipalAccount", principal.account)
            context.setdefault("aws:PrincipalType", "AssumedRole")
            if request.action.startswith("kms:"):
                context.setdefault("kms:CallerAccount", principal.account)
        else:
            context.setdefault("aws:PrincipalServiceName", principal.arn)
        context.setdefault("aws:SecureTransport", "true")
        identity, boundary = self._identity(principal) if principal.kind == "role" else ([], None)
        policy = self._resource_policy(request.action, resource)
        parts = resource.split(":")
        account = (
            parts[4]
            if resource.startswith("arn:") and len(parts) > 4 and parts[4]
            else (self.account)
        )
        simulation: dict[str, Any] = {
            "request": {
                "principal": principal.arn,
                "action": request.action,
                "resource": {"resource": resource, "accountId": account},
                "contextVariables": context,
            },
            "identityPolicies": identity,
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        if policy is not None and policy.document:
            simulation["resourcePolicy"] = policy.document
        if boundary is not None:
            simulation["permissionBoundaryPolicies"] = [{"name": "boundary", "policy": boundary}]
        answer = simulator().ask(simulation)
        return Decision(
            request, answer, "" if answer.allowed else _explain(request, answer, policy)
        )


def _explain(request: Request, answer: Answer, policy: ResourcePolicy | None) -> str:
    action, resource, who = request.action, request.resource, request.principal.label
    if answer.result == "Error":
        return (
            f"{action} cannot be asked of {resource} ({answer.error}): an action's service "
            "prefix must match the resource ARN's (a policy granting it grants nothing)"
        )
    lines = []
    kinds = {d.get("policyType") for d in answer.denials}
    if "identity" in kinds or not answer.denials:
        lines.append(f"{who}'s identity policies allow no {action} on {resource}")
    if "resource" in kinds:
        where = policy.label if policy else "the resource policy"
        near = [
            f"{u.get('sid') or 'a statement'} (condition on "
            + ", ".join(c["key"] for c in u.get("conditions", []))
            + " not met)"
            for u in answer.unmatched
            if u.get("action") and u.get("conditions")
        ]
        lines.append(
            f"{where} allows {who} no {action}" + (f"; closest: {'; '.join(near)}" if near else "")
        )
    if answer.result == "ExplicitlyDenied":
        denied = [str(d.get("policyIdentifier") or d.get("policyType")) for d in answer.denials]
        lines.append(f"explicitly denied by {', '.join(denied)}")
    if answer.ignored:
        lines.append(f"(the evaluator ignored {', '.join(answer.ignored)})")
    return "; ".join(lines)
