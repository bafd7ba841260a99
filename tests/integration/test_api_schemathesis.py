"""The app tier keeps the contract its own OpenAPI document states, under schemathesis.

A real instance (SQLite, its own var dir, the demo data at scale 0.01) and every schemathesis phase:
the document's examples, the coverage of each declared constraint's edges, random fuzzing, and
stateful sequences following the links schemathesis infers (sign up, then use the token; create a
product, then fetch and change it). Three times: anonymous, as a customer and as an admin.

Checks: all of them, less positive_data_acceptance, which expects every schema-valid request to
succeed; this API answers 422 for rules no schema states (an unknown category in a filter, an empty
image file), and schemathesis computes the edges of 64-bit bounds in floating point, so it calls
2**63 + 192 "valid" for an id whose maximum is 2**63 - 1.

Examples: 40 per operation and phase, a fixed seed (a failure here reproduces), one worker (more
crashed the coverage phase on this machine); about 30 s a run here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import Api, app_stack, run_cli

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
EXAMPLES = 40
SEED = 20261202


@dataclass
class Target:
    url: str
    tokens: dict[str, str | None]
    log: Path


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    var_dir = tmp_path_factory.mktemp("schemathesis")
    seeded = run_cli(var_dir, "seed", "--scale", "0.01")
    assert seeded.returncode == 0, seeded.stderr
    with app_stack(var_dir) as app:
        url = app.instances[0].url
        customer = Api(url).sign_up("fuzz-customer@example.com")
        Api(url).sign_up("fuzz-admin@example.com")
        app.db.make_admin("fuzz-admin@example.com")
        admin = Api(url).sign_in("fuzz-admin@example.com")
        yield Target(url, {"anonymous": None, "customer": customer.token, "admin": admin.token},
                     app.instances[0].log)


@pytest.mark.parametrize("who", ["anonymous", "customer", "admin"])
def test_every_operation_answers_as_documented_under_schemathesis(target: Target, who: str,
                                                                  tmp_path: Path) -> None:
    command = [SCHEMATHESIS, "run", f"{target.url}/openapi.json", "--workers", "1",
               "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
               "--exclude-checks", "positive_data_acceptance", "--max-examples", str(EXAMPLES),
               "--seed", str(SEED), "--generation-database", "none", "--request-timeout", "10", "--no-color"]
    token = target.tokens[who]
    if token is not None:
        # Signing out would revoke the very token the rest of the run authenticates with.
        command += ["-H", f"Authorization: Bearer {token}", "--exclude-path", "/api/auth/signout"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-12_000:] + run.stderr[-2_000:]
    # "Test cases: N generated, N passed[, M skipped]": something was tested, and nothing failed.
    [cases] = [line for line in run.stdout.splitlines() if " generated, " in line]
    generated, passed = (int(part.split()[0]) for part in cases.split(",")[:2])
    assert generated > 1000 and passed == generated, cases
    assert "unhandled error" not in target.log.read_text()
