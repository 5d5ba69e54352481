"""Test certificates made with the real openssl: a CA and certificates it signs for 127.0.0.1 (EC keys:
fast to make). For the tests of TLS listeners and clients (metrics, SMTP)."""

from __future__ import annotations

import pathlib
import subprocess

_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(directory: pathlib.Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def make_ca(directory: pathlib.Path, name: str = "ca") -> pathlib.Path:
    """`<name>.key` and `<name>.pem` (a self-signed CA, CN he-test-<name>) in `directory`; the pem."""
    _openssl(directory, "req", "-x509", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN=he-test-{name}")  # fmt: skip
    return directory / f"{name}.pem"


def issue(directory: pathlib.Path, key: str, cert: str, ca: str = "ca") -> None:
    """A key (at `key`) and a certificate (at `cert`) for 127.0.0.1, signed by `ca` (paths relative to
    `directory`)."""
    stem = pathlib.Path(cert).stem
    _openssl(directory, "req", *_EC, "-keyout", key, "-out", f"{stem}.csr", "-subj", "/CN=127.0.0.1")
    (directory / f"{stem}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(directory, "x509", "-req", "-in", f"{stem}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", f"{stem}.ext")  # fmt: skip
