"""An alerter that posts JSON to an incoming webhook (Slack, Microsoft Teams, Mattermost, any).

The webhook URL is a credential (whoever has it can post), so it lives in a ZenML secret and
never in a stack file or a log line.
"""

WEBHOOK_ALERTER_FLAVOR = "webhook"
