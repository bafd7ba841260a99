"""The release bundle both tiers install: this checkout's package, its pins, and the Beanstalk files.

The same directory (staged by CDK as one S3 asset) is the Elastic Beanstalk application version and
what the web instances' user data installs, so both tiers always run the same commit with the same
pinned dependencies. No CDK import here: the bundle's layout is tested without synthesizing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lakefront
from lakefront.settings import SettingsError

APP_PORT = 8000
"""Port `lakefront serve app` listens on behind Beanstalk's nginx (the Python platform's default upstream)."""

PROCFILE = f"web: lakefront serve app --host 127.0.0.1 --port {APP_PORT} --name app\n"
REQUIREMENTS = "-c constraints.txt\n.\n"
RDS_CA_PATH = "/etc/pki/lakefront/rds-ca.pem"
"""Where the prebuild hook puts RDS's CA bundle (settings aws.db_ca_file points here)."""

# Beanstalk runs container_commands after pip install, with the environment properties set; leader_only
# runs the migration on one instance per deployment, before any instance switches to the new version.
MIGRATE_CONFIG = """\
container_commands:
  01_migrate:
    command: "source /var/app/venv/*/bin/activate && lakefront db migrate"
    leader_only: true
"""
RDS_CA_HOOK = f"""\
#!/bin/bash
# The database only accepts TLS (require_secure_transport): fetch the CA that signs RDS's certificates.
set -euo pipefail
mkdir -p "$(dirname {RDS_CA_PATH})"
curl --fail --silent --show-error --retry 5 -o {RDS_CA_PATH}.tmp \\
  https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
mv {RDS_CA_PATH}.tmp {RDS_CA_PATH}
"""


def repo_root() -> Path:
    """The checkout this package runs from; the bundle is built from it, not from an installed copy."""
    root = Path(lakefront.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "constraints.txt").is_file():
        raise SettingsError(f"`lakefront aws` builds the release from a checkout; none at {root}")
    return root


def build_bundle(dest: Path, root: Path | None = None) -> Path:
    """Write the bundle into dest (created, must not exist) and return it."""
    root = root or repo_root()
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "src" / "lakefront", dest / "src" / "lakefront",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    (dest / "Procfile").write_text(PROCFILE)
    (dest / "requirements.txt").write_text(REQUIREMENTS)
    (dest / ".ebextensions").mkdir()
    (dest / ".ebextensions" / "01-migrate.config").write_text(MIGRATE_CONFIG)
    hook = dest / ".platform" / "hooks" / "prebuild" / "01-rds-ca.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text(RDS_CA_HOOK)
    hook.chmod(0o755)
    return dest
