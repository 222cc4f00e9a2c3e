"""HTTPS for the web pages: a server context from a certificate and its key (the
device's own, or one the user supplies), and the fingerprint a user compares in the
browser the first time.

>>> pages = load_certificate(Path("web.pem"), Path("web.key"))           # doctest: +SKIP
>>> web.TCPSite(runner, "0.0.0.0", 7480, ssl_context=pages.context)      # doctest: +SKIP
>>> pages.fingerprint
'3F:1C:...'

Unlike sync's contexts (:mod:`roamsync.transport.tls`), this one asks the client for
no certificate: browsers connect, and users log in with a password.

Errors: :class:`~roamsync.schema.TlsError` naming the file and what is wrong with it
(missing, not a certificate, an encrypted key, a key that is not the certificate's,
expired); the cryptography or ssl error is chained.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from roamsync.schema import TlsError


@dataclass(frozen=True)
class WebCertificate:
    """A certificate ready to serve the pages with."""

    context: ssl.SSLContext
    fingerprint: str  # SHA-256 of the certificate's DER, "3F:1C:..." as browsers show it
    names: frozenset[str]  # the DNS names it is issued for (subjectAltName, no wildcards)


def load_certificate(cert_path: Path, key_path: Path) -> WebCertificate:
    """The certificate in ``cert_path`` (PEM, the server's first, then any chain) with
    the unencrypted key in ``key_path``; ``TlsError`` for anything that would not serve."""
    chain = _read_chain(cert_path)
    key = _read_key(key_path)
    leaf = chain[0]
    if _public(key) != leaf.public_key().public_bytes(*_SPKI):
        raise TlsError(f"the key {key_path} is not the key of the certificate {cert_path}")
    if leaf.not_valid_after_utc < dt.datetime.now(dt.UTC):
        raise TlsError(
            f"the certificate {cert_path} expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
        )
    return WebCertificate(_context(cert_path, key_path), fingerprint(leaf), _dns_names(leaf))


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate, in the form browsers' certificate viewers show."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise TlsError(f"no {what} at {path}") from exc
    except OSError as exc:
        raise TlsError(f"cannot read the {what} at {path}: {exc.strerror}") from exc


def _read_chain(path: Path) -> list[x509.Certificate]:
    data = _read(path, "certificate")
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsError(f"{path} is not a PEM certificate: {exc}") from exc
    return chain


def _read_key(path: Path) -> PrivateKeyTypes:
    data = _read(path, "private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography's word for "needs a password"
        raise TlsError(
            f"the key {path} is encrypted: give it without a passphrase "
            f"(openssl pkey -in {path} -out NEW.key), readable by this user only"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsError(f"{path} is not a PEM private key: {exc}") from exc


def _public(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(*_SPKI)


def _context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_NONE  # browsers have no client certificate to give
    try:
        # The key was read unencrypted above; a password callback that returns nothing
        # keeps OpenSSL from ever prompting on the terminal.
        context.load_cert_chain(cert_path, key_path, password=lambda: b"")
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot serve HTTPS with {cert_path} and {key_path}: {exc}") from exc
    return context


def _dns_names(cert: x509.Certificate) -> frozenset[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(
        name.lower() for name in names.get_values_for_type(x509.DNSName) if "*" not in name
    )
