"""Dagster only: thin shells (assets, checks, jobs, schedules, sensors) over dr_assets.core."""
