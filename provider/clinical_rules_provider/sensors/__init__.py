"""Sensors that wait on Clinical One rule jobs and Vault jobs."""
