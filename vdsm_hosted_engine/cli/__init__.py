"""Command-line front ends (the only place that prints)."""
