"""A self-signed serving certificate for the fake API server (made with the ``openssl`` command)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path


def self_signed(host: str) -> tuple[ssl.SSLContext, bytes]:
    """A server SSL context and its certificate (PEM) valid for *host*, ``127.0.0.1`` and ``localhost``.

    Raises :class:`RuntimeError` when ``openssl`` is not installed.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the fake API server needs the openssl command to serve TLS")
    names = {"IP:127.0.0.1", "DNS:localhost"}
    names.add(f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}")
    with tempfile.TemporaryDirectory(prefix="sw-fake-tls-") as tmp:
        key, cert = Path(tmp) / "key.pem", Path(tmp) / "cert.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "7",
             "-subj", "/CN=sparkwing-fake-apiserver",
             "-addext", "subjectAltName=" + ",".join(sorted(names)),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
            check=True, capture_output=True, timeout=60,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        return context, cert.read_bytes()
