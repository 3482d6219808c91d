"""The gitlab driver: GitLab's merge requests, through the shared forge
connection (gateq/drivers/forge/) and the Dialect here."""
