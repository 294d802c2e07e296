"""Snapshots: immutable, hashed training sets frozen under a policy, their dataset cards and verification."""
