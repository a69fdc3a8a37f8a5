"""Health of apps and estate: the pure scores of DESIGN.md section 9 (scores), the estate
status read from the catalog (estate), alert conditions and delivery (alerting), and the
status page's timeline (timeline).

May import: catalog and the floors below.
"""
