"""The DR engine: plain Python over plain data, no Dagster, GraphQL or CLI imports.

Rooms by domain, on floors; a module imports only from its own floor or below (checked by
tests/core/test_rooms.py):

    0  errors, names, statuses          exceptions, identifiers, status words
    1  policy, runs, format/, pg/,      dr.toml, the run contract, the byte format,
       stores/, access/, scheduling/,   PostgreSQL tools, storage, tokens + audit chain,
       forecasting/, charts/            start offsets and dump limits at scale, fitted
                                        trends and their forecasts, SVG time charts
    2  catalog/                         the SQL index and its typed rows
    3  copies/                          stored copies: find, verify, publish, sync
    4  backup/, restore/, drills/,      the operations, health and compliance evidence,
       retention/, health/,             what a restored database must match, a server's
       compliance/, validation/, wal/,  WAL (streaming, base backups, recovery), and what
       anomalies/, delivery/            a backup holds against its app's history, alerts
                                        delivered to email, PagerDuty, Slack, Teams, hooks
    5  runtime                          wires a config to its keyring, stores and catalog
"""
