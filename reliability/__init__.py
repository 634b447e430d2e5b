"""Fault-injection runs, bad-input fuzzing and secret-hygiene checks (``make reliability``)."""
