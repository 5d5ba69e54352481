"""The HostedEngine API: schema, validation, and the verb class (duck-typed to VDSM's bridge)."""
