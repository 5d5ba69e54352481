"""The broker: health monitors, each in its own thread, results cached with their age."""
