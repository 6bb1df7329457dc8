"""CloudFormation's intrinsic functions, evaluated the way CloudFormation would.

The walker is shared: the drill's stand-up resolves ``Ref`` and ``Fn::GetAtt`` against
what it created in the emulator, the authorization model against the names and ARNs
CloudFormation would give each resource (physical.py). Subclasses answer those two;
everything else (joins, substitutions, selections, outputs of other stacks, pseudo
parameters) is evaluated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_platform.assembly.reader import StackTemplate


class Unresolved(Exception):
    """A value that depends on something this evaluator does not know."""


class Intrinsics:
    """Evaluate intrinsic functions in a template value of ``stack``."""

    def __init__(self, stacks: Mapping[str, StackTemplate]) -> None:
        self.stacks = stacks

    # --- what subclasses answer -------------------------------------------------------
    def ref(self, logical: str, stack: StackTemplate) -> str:
        raise Unresolved(f"{stack.name}/{logical}")

    def get_att(self, logical: str, attribute: str, stack: StackTemplate) -> str:
        raise Unresolved(f"{stack.name}/{logical}.{attribute}")

    # --- the walker -------------------------------------------------------------------
    def resolve(self, value: Any, stack: StackTemplate) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v, stack) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self._ref(arg, stack)
        if fn == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical, attribute, stack)
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(str(self.resolve(p, stack)) for p in self.resolve(parts, stack))
        if fn == "Fn::Select":
            index, items = arg
            return self.resolve(items, stack)[int(self.resolve(index, stack))]
        if fn == "Fn::Split":
            separator, text = arg
            return str(self.resolve(text, stack)).split(separator)
        if fn == "Fn::GetStackOutput":
            other = self.stacks[arg["StackName"]]
            return self.resolve(other.template["Outputs"][arg["OutputName"]]["Value"], other)
        if fn == "Fn::Sub":
            return self._sub(arg, stack)
        if fn.startswith("Fn::"):
            raise Unresolved(fn)
        return {k: self.resolve(v, stack) for k, v in value.items()}

    def value(self, value: Any, stack: StackTemplate, default: Any = None) -> Any:
        """``resolve``, or ``default`` when it depends on something unknown."""
        try:
            return self.resolve(value, stack)
        except (Unresolved, KeyError, IndexError, TypeError):
            return default

    def _ref(self, name: str, stack: StackTemplate) -> str:
        pseudo = {
            "AWS::Region": stack.region,
            "AWS::AccountId": stack.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name,
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in stack.resources:
            return self.ref(name, stack)
        parameter = stack.template.get("Parameters", {}).get(name)
        if parameter is not None and "Default" in parameter:
            return str(parameter["Default"])
        raise Unresolved(f"{stack.name}/{name}")

    def _sub(self, arg: Any, stack: StackTemplate) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        out, i = "", 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                return out + str(text[i:])
            end = text.index("}", start)
            out += text[i:start]
            key = text[start + 2 : end]
            if key in variables:
                out += str(self.resolve(variables[key], stack))
            elif "." in key:
                out += str(self.resolve({"Fn::GetAtt": key.split(".", 1)}, stack))
            else:
                out += self._ref(key, stack)
            i = end + 1
        return out
