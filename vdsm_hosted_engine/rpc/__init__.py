"""JSON-RPC 2.0 over STOMP 1.2: framing, dispatch, server, client."""
