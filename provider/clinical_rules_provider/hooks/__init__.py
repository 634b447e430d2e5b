"""Hooks: connection -> auth -> httpx (sync and async)."""
