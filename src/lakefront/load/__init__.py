"""`lakefront load`: simulated shoppers through the public listener (Locust, in its own process), faults
on a schedule, and an account of every order against the database. See run.py for the shape of a run."""

from pathlib import Path


def locustfile_path() -> Path:
    """The Locust file, handed to `python -m locust -f`; never imported by the CLI process."""
    return Path(__file__).with_name("locustfile.py")
