"""The pipeline jobs' entry point on EMR Serverless: `spark-submit emr_main.py extract|process`.

spark-submit runs a Python file, not a module, so this file is uploaded as its own asset; what it runs are
the packed virtualenv's `lakefront` commands (the same release as the instances), listed in
lakefront.cli.aws.STEP_COMMANDS.
"""

import sys

from lakefront.cli.aws import STEP_COMMANDS
from lakefront.cli.main import main


def run(step: str) -> None:
    for args in STEP_COMMANDS[step]:
        sys.argv = ["lakefront", *args]
        try:
            main()
        except SystemExit as exc:  # Typer exits after every command; only a failure ends the job
            if exc.code not in (0, None):
                raise


if __name__ == "__main__":
    run(sys.argv[1])
