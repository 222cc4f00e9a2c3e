"""Device identity and the TLS contexts peers use to authenticate each other.

Each device makes its own EC P-256 key and a self-signed certificate once, at
init; the device id is the certificate's fingerprint (lowercase hex SHA-256 of
its DER). There is no company CA: every enrolled device's certificate is its
own trust anchor, so "trusted" means "the certificates of enrolled devices".

>>> me = create_identity(Path("~/.roamsync/tls").expanduser(), "office-1")  # doctest: +SKIP
>>> ctx = server_context(me, registry_pems)                                  # doctest: +SKIP
>>> web.TCPSite(runner, "127.0.0.1", 8443, ssl_context=ctx)                  # doctest: +SKIP
>>> peer_fingerprint(request.transport.get_extra_info("ssl_object"))         # doctest: +SKIP
'3f1c...'

A successful handshake is not the whole check. The server accepts a client
with no certificate at all (a device that is joining), and an enrolled
device's certificate can sign further certificates that chain to it. The
caller must therefore always compare :func:`peer_fingerprint` with the
registry and, for ``None``, allow only the join endpoint.

Errors: :class:`TlsError` (a :class:`~roamsync.schema.RoamsyncError`) for a
missing, damaged or unusable identity or certificate; the cryptography or
ssl error is chained as ``__cause__``. Handshake failures themselves surface
from the event loop or aiohttp as ``ssl.SSLError`` subclasses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roamsync.schema import TlsError

log = logging.getLogger(__name__)

KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
VALIDITY = dt.timedelta(days=20 * 365)
# A new certificate is dated a day back, so a peer whose clock runs behind
# (a laptop back from a trip) does not refuse it as "not yet valid".
BACKDATE = dt.timedelta(days=1)


@dataclass(frozen=True)
class Identity:
    """One device's key and self-signed certificate, as stored in its folder."""

    name: str  # human device name, the certificate's CN
    fingerprint: str  # sha256 hex of the certificate's DER: the device id
    cert_pem: str
    key_path: Path
    cert_path: Path


def create_identity(folder: Path, name: str) -> Identity:
    """Make a new key and certificate in ``folder``; never replaces an existing identity.

    Replacing a key would silently change the device id and orphan its
    enrolment, so an existing ``key.pem`` or ``cert.pem`` is a ``TlsError``.
    """
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    for path in (key_path, cert_path):
        if path.exists():
            raise TlsError(f"{path} already exists: refusing to replace this device's identity")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Key first: a cert.pem without its key could never be used; the reverse
    # is reported clearly by load_identity.
    _write_atomically(key_path, _key_pem(key), mode=0o600)
    _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o600)
    return load_identity(folder)


def load_identity(folder: Path) -> Identity:
    """Read the identity ``create_identity`` wrote; ``TlsError`` if missing or damaged."""
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    cert_pem = _read(cert_path, "certificate")
    cert = _parse_cert(cert_pem.encode(), str(cert_path))
    key = _load_key(_read(key_path, "private key").encode(), key_path)
    if key.public_key() != cert.public_key():
        raise TlsError(f"{key_path} does not belong to the certificate {cert_path}")
    return Identity(_common_name(cert), _fingerprint(cert), cert_pem, key_path, cert_path)


def sign(identity: Identity, message: bytes) -> bytes:
    """``message`` signed with the device's private key (ECDSA P-256, SHA-256)."""
    return signer(identity)(message)


def signer(identity: Identity) -> Callable[[bytes], bytes]:
    """A function that signs with the device's private key (read once)."""
    key = _load_key(_read(identity.key_path, "private key").encode(), identity.key_path)
    algorithm = ec.ECDSA(hashes.SHA256())
    return lambda message: key.sign(message, algorithm)


def verifier(cert_pem: str) -> Callable[[bytes, bytes], bool]:
    """``check(signature, message)``: whether the certificate's key made the signature;
    ``TlsError`` if the certificate is unusable."""
    public = _parse_cert(_ascii(cert_pem), "certificate").public_key()
    algorithm = ec.ECDSA(hashes.SHA256())

    def check(signature: bytes, message: bytes) -> bool:
        if not isinstance(public, ec.EllipticCurvePublicKey):
            return False
        try:
            public.verify(signature, message, algorithm)
        except InvalidSignature:
            return False
        return True

    return check


def verifies(cert_pem: str, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` over ``message`` was made with the key of ``cert_pem``;
    ``TlsError`` if the certificate itself is unusable."""
    return verifier(cert_pem)(signature, message)


def _ascii(cert_pem: str | bytes) -> bytes:
    if isinstance(cert_pem, bytes):
        return cert_pem
    try:
        return cert_pem.encode("ascii")
    except UnicodeEncodeError as exc:
        raise TlsError("certificate PEM is not ASCII text") from exc


def fingerprint_of(cert_pem: str | bytes) -> str:
    """The device id of a certificate given as PEM (text or bytes) or DER."""
    return _fingerprint(_parse_cert(_ascii(cert_pem), "certificate"))


def server_context(identity: Identity, trusted: Iterable[str]) -> ssl.SSLContext:
    """A listening context: presents ``identity``, asks clients for theirs.

    A client certificate is requested but optional, so a joining device can
    connect without one (its ``peer_fingerprint`` is ``None``). A certificate
    that is presented must chain to one of ``trusted`` or the handshake fails.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure(context, identity)
    context.verify_mode = ssl.CERT_OPTIONAL
    for pem in trusted:
        trust(context, pem)
    return context


def trust(context: ssl.SSLContext, cert_pem: str) -> None:
    """Trust one more certificate from the next handshake on (a device was enrolled).

    New connections see it at once; nothing needs rebuilding or restarting.
    There is no way to un-trust a certificate in a live context: build a new
    one to revoke (disconnected devices are also refused by the registry check).
    """
    fingerprint_of(cert_pem)  # a clear TlsError for garbage, before OpenSSL sees it
    try:
        context.load_verify_locations(cadata=cert_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsError(f"cannot trust this certificate: {exc}") from exc


def client_context(identity: Identity | None, trusted: Iterable[str]) -> ssl.SSLContext:
    """A connecting context: presents ``identity`` (if any), verifies the server.

    The server must chain to one of ``trusted``; there is no hostname check
    because peers connect by IP address and a device's identity is its
    fingerprint, not a name.

    With ``trusted`` empty (a device joining with only an invite code) the
    server's certificate is NOT verified at all: the handshake succeeds with
    anyone. The caller MUST then compare ``peer_fingerprint`` of the server
    with the fingerprint from the invite code before it sends anything that
    matters (the invite code itself). With aiohttp, passing
    ``ssl=aiohttp.Fingerprint(bytes.fromhex(expected))`` instead makes the
    check before the request is sent.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _configure(context, identity)
    context.check_hostname = False
    pems = list(trusted)
    if not pems:
        context.verify_mode = ssl.CERT_NONE
    for pem in pems:
        trust(context, pem)
    return context


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The fingerprint of the certificate the other side presented, ``None`` if none.

    Works with ``CERT_NONE`` too: the binary form is available unverified.
    """
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def _configure(context: ssl.SSLContext, identity: Identity | None) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # OpenSSL picks 1.3 when both speak it
    if identity is None:
        return
    try:
        context.load_cert_chain(identity.cert_path, identity.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use the identity in {identity.cert_path.parent}: {exc}") from exc


def _self_signed(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    """A certificate OpenSSL accepts as its own trust anchor, for client and server use.

    OpenSSL takes a self-signed certificate in the trust store as an anchor
    even with ca=False; ca=False without keyCertSign also means it can vouch
    for no other certificate, so an enrolled device cannot mint new ones.
    """
    try:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    except ValueError as exc:
        raise TlsError(f"device name {name!r} cannot be a certificate name: {exc}") from exc
    public = key.public_key()
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` all at once: a crash leaves the old state, never half a file.

    The temporary file is created with ``mode`` already set (mkstemp makes it
    0600), so the key is never readable by others, not even for a moment.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise TlsError(f"no {what} at {path}: run init to create this device's identity") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TlsError(f"cannot read the {what} at {path}: {exc}") from exc


def _parse_cert(data: bytes, where: str) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise TlsError(f"{where} is not a valid X.509 certificate: {exc}") from exc


def _load_key(data: bytes, path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TlsError(f"{path} is not a valid unencrypted private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{path} holds a {type(key).__name__}, expected an EC key")
    return key


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return ""
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
