"""Alert delivery to the people on call: the channels an alert may take (a generic webhook,
PagerDuty, Slack, Microsoft Teams, email), which alerts each one takes (by severity and
app), and the exact message each one is sent (pure: channels.py, payloads.py); the senders
(HTTP, SMTP) and the dispatcher over the catalog's outbox (senders.py, dispatch.py).

May import: errors, names, statuses, policy, catalog (the outbox and its attempts).
"""
