"""Alert delivery to the people on call: the channels an alert may take (a generic webhook,
PagerDuty, Slack, Microsoft Teams, email), which alerts each one takes (by severity and
app), and the exact message each one is sent. Pure: an alert and an event in, a payload out.

May import: errors, names, statuses, policy, catalog (rows only).
"""
