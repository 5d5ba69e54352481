"""Who may call what over the RPC server (pure).

The Unix socket is root's only and plain TCP is loopback only: their callers may call every verb.
Over TLS a client certificate signed by VDSM's CA is required (the transport checks it); with
`allowed_subjects` set, only certificates whose subject common name is in it may call verbs that
change something, and every other certificate may still call the read-only ones. Without it, any
certificate from the CA may call anything: VDSM's own trust.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    allowed_subjects: frozenset[str] | None = None  # certificate common names; None: any from the CA
    read_only: frozenset[str] = frozenset()  # full method names anyone authenticated may call

    def permits(self, subject: str | None, method: str) -> bool:
        """`subject`: the TLS client certificate's common name ("" without one); None off TLS."""
        if subject is None or self.allowed_subjects is None:
            return True
        return subject in self.allowed_subjects or method in self.read_only


def common_name(peercert: dict | None) -> str:
    """The subject CN of a certificate as `SSLSocket.getpeercert()` returns it ("" if none)."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return ""
