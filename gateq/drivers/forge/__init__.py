"""What the three forge drivers (gitea/Forgejo, github, gitlab) share:
webhook verification and delivery dedup (signature.py, deliveries.py,
webhook.py), a small REST client (rest.py), pull requests as driver-neutral
records (pulls.py), the mirror, lander, reporter and reconciliation, and
one Connection (connection.py) that each forge drives through its Dialect
(dialect.py): the forge's URLs, JSON shapes and webhook events."""
