"""`python -m lakefront ...`: the same command line as `lakefront ...` (how `up` starts instances)."""

from __future__ import annotations

from lakefront.cli.main import main

if __name__ == "__main__":
    main()
