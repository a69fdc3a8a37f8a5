"""Health of apps and estate: the pure scores of DESIGN.md section 9 (scores), the estate
status read from the catalog (estate), alert conditions and delivery (alerting), and the
status page's timeline (timeline) and what its trend charts and the compliance report's draw
(trend_charts).

May import: catalog and the floors below.
"""
