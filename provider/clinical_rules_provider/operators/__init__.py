"""Operators for Clinical One rules and Vault jobs."""
