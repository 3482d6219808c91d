"""Drivers: one package per code-review or git hosting system gateq talks to."""
