"""Transport-agnostic endpoint descriptions: build requests, parse responses. No Airflow imports."""
