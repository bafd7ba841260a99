"""Lakefront: the AWS three-tier web + analytics architecture as working software."""

__version__ = "0.1.0"
