"""Deployments of Lakefront to other infrastructure. Nothing in the tiers imports this package."""
