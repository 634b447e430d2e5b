"""Async triggers behind the deferrable sensors and operators."""
