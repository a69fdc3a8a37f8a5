"""Trend pictures drawn on the server as SVG: a time axis and a value axis with nice ticks,
the observed points, a labelled limit (the RTO, the storage quota), a dashed forecast and
anomaly marks, with an accessible title, description and the plotted numbers as data-*
attributes. Pure: a TrendChart in, SVG text out.

May import: errors, names, statuses, policy, forecasting.
"""
