"""The pipeline jobs' entry point on EMR Serverless: `spark-submit emr_main.py extract|process`.

spark-submit runs a Python file, not a module, so this file is uploaded as its own asset; the code it runs
is the packed virtualenv's lakefront (the same release as the instances).
"""

import sys

from lakefront.cli.main import main

if __name__ == "__main__":
    sys.argv = ["lakefront", "aws", "job", *sys.argv[1:]]
    main()
