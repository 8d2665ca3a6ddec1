"""Prefect flows and the comeback CLI: the application layer (the only place Prefect lives)."""
