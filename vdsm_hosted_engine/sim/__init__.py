"""The deterministic simulator: the real agent, fsm and score on simulated hosts."""
