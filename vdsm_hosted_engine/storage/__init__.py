"""Shared storage: the domain layout, the whiteboard and sanlock."""
