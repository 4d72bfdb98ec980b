"""Adapters that let other frameworks use the ISMS through the service facade (same clearance rules)."""
