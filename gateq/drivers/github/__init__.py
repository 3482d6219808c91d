"""The github driver: GitHub and GitHub Enterprise, through the shared
forge connection (gateq/drivers/forge/) and GitHub's Dialect here."""
