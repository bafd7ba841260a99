"""The CDK app: build the stack from settings, synthesize it with cdk-nag's AwsSolutions checks.

`lakefront aws synth` calls `synth`; diff, deploy and destroy hand the synthesized cloud assembly to the
CDK CLI (`cdk --app <dir>`), so the CLI never runs Python itself and every command sees the same templates.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

# jsii (the bridge to CDK's JavaScript) warns on every import under Node 20, which still works.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from lakefront.deploy.aws.bundle import build_bundle
from lakefront.deploy.aws.stack import LakefrontStack
from lakefront.settings import Settings

FEATURE_FLAGS = {
    # Access logs are delivered through a bucket policy, not the legacy LogDeliveryWrite ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def build(settings: Settings, outdir: Path) -> tuple[cdk.App, LakefrontStack]:
    """The app (writing to outdir) and its one stack, with cdk-nag registered as a validation plugin."""
    app = cdk.App(outdir=str(outdir), analytics_reporting=False, context=FEATURE_FLAGS)
    scratch = Path(tempfile.mkdtemp(prefix="lakefront-bundle-"))
    bundle = build_bundle(scratch / "bundle")
    env = cdk.Environment(account=settings.aws.account, region=settings.aws.region)
    stack = LakefrontStack(app, settings.aws.stack_name, settings=settings, bundle_dir=bundle, env=env,
                           description="Lakefront: the three-tier web + analytics reference architecture")
    # The asset is copied into outdir at synthesis; the scratch copy goes with the stack (or at exit).
    weakref.finalize(stack, shutil.rmtree, scratch, True)
    # cdk-nag 3 is a policy-validation plugin: synth fails, listing each unacknowledged finding.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def synth(settings: Settings, outdir: Path) -> Path:
    """Synthesize into outdir; returns the stack's template file. Raises on any cdk-nag error."""
    app, stack = build(settings, outdir)
    assembly = app.synth()
    return Path(assembly.directory) / stack.template_file
