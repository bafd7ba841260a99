"""One synthesis of the CDK app per test session, shared by the template tests and the scanners.

The settings are deliberately not the defaults where a default would hide a wiring mistake (instance
counts, ports) and name a QuickSight principal so the QuickSight resources exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lakefront.settings import Settings, load_settings

DOMAIN = "shop.example.com"
PRINCIPAL = "arn:aws:quicksight:eu-west-1:123456789012:group/default/lakefront-admins"
OVERRIDES: dict[str, Any] = {
    "aws": {"region": "eu-west-1", "domain": DOMAIN, "quicksight_principal": PRINCIPAL,
            "web_min_instances": 2, "web_max_instances": 5, "web_requests_per_target": 700},
    "web": {"instances": 3},
    "app": {"instances": 2},
}


@dataclass
class Assembly:
    settings: Settings
    directory: Path
    template_file: Path
    template: dict[str, Any]
    stack: Any  # LakefrontStack: its app_env, web_env and job_env are what the instances get

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.template["Resources"].items() if res["Type"] == kind}

    def one(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        child = construct.node.default_child or construct
        return str(self.stack.get_logical_id(child))


_SYNTHESIZED: list[Assembly] = []
"""Each module that imports the fixture gets its own definition of it; this makes them share one synthesis."""


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    if not _SYNTHESIZED:
        from lakefront.deploy.aws.app import build

        settings = load_settings(**OVERRIDES)
        app, stack = build(settings, tmp_path_factory.mktemp("cdk") / "cdk.out")
        result = app.synth()  # raises if cdk-nag reports an unacknowledged finding
        template_file = Path(result.directory) / stack.template_file
        _SYNTHESIZED.append(Assembly(settings, Path(result.directory), template_file,
                                     json.loads(template_file.read_text()), stack))
    return _SYNTHESIZED[0]


def flatten(value: Any) -> str:
    """A template value as text: literal strings kept, references written <Ref X> / <X.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(flatten(item) for item in value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, items = value["Fn::Join"]
            return sep.join(flatten(item) for item in items)
        if "Fn::Base64" in value:
            return flatten(value["Fn::Base64"])
        if "Ref" in value:
            return f"<Ref {value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if "Fn::Sub" in value:
            return flatten(value["Fn::Sub"])
        return json.dumps(value, sort_keys=True)
    return str(value)
