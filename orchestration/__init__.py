"""Dagster code location of the channel warehouse."""
