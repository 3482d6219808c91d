"""The pure scheduling core: no I/O, no clock; events in, actions out."""
