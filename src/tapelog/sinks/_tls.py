"""The TLS client context the network sinks (syslog over TLS, http and otlp) share."""

from __future__ import annotations

import ssl


__all__ = ["client_context"]


def client_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A client context: TLS 1.2 or newer, verifying the server's certificate and name.

    Args:
        ca_file: PEM certificates to trust instead of the system's CAs (a private CA).
        cert_file: this client's certificate chain, for servers that ask for one (mTLS).
        key_file: the certificate's private key, when it is not in ``cert_file``.

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: a file holds no usable certificate or key.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context
