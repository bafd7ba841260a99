"""The analytics tier: extract the database into the lake (extract.py), the lake's layout and commits (lake.py)."""
