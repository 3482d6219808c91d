"""The gitea driver: Gitea and Forgejo, through the shared forge
connection (gateq/drivers/forge/) and the Dialect here."""
