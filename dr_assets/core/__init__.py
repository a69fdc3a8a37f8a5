"""The DR engine: plain Python over plain data, no Dagster or GraphQL imports."""
