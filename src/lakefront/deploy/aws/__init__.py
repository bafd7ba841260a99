"""The AWS deployment: a CDK app (one construct per tier, a stack that wires them) and the boto3 helpers
the aws profile's jobs use (EMR Serverless job runs, the Glue catalog over the marts).

Importing this package loads no CDK: `jobs` and `catalog` need only boto3, so the pipeline's jobs and the
CLI's `lakefront aws run` work without the heavy `aws` extra; `app` and the constructs need it.
"""
