"""High availability: score and state machine (pure), agent loop."""
