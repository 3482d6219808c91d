"""gateq: a speculative gating engine with publishing inside the gate."""
__version__ = "0.1.0"
