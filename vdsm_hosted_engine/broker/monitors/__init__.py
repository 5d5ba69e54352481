"""One module per monitor (interface: broker/base.py)."""
