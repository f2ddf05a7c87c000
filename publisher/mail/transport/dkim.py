"""DKIM signatures (RFC 6376) for built messages, RSA or Ed25519 (RFC 8463).

Headers are canonicalized `relaxed` (servers refold and respace them), the body `simple`: it
is ours, quoted-printable or base64 in short CRLF lines that relays pass unchanged, and relaxed
body canonicalization costs more per message than the RSA signature itself.

The signature is computed with `cryptography` (OpenSSL), which signs RSA-2048 many times faster
than dkimpy's pure-Python arithmetic; dkimpy reads the selector's DNS record for
`publisher check --dns`, and the tests verify every signature with it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from publisher.config import Config, DkimConfig
from publisher.errors import ConfigError

# RFC 8058 section 4: List-Unsubscribe and List-Unsubscribe-Post must be signed.
SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "reply-to",
)

_WHITESPACE_RUN = re.compile(rb"[ \t]+")

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs messages for `domain` with the key published at `selector._domainkey.domain`."""

    domain: str
    selector: str
    algorithm: str
    key: PrivateKey

    def sign(self, message: bytes) -> bytes:
        """`message` (CRLF line endings) with a DKIM-Signature header in front."""
        header_block, _, body = message.partition(b"\r\n\r\n")
        headers = _parse_headers(header_block)
        names = [name for name in SIGNED_HEADERS if name in headers]
        body_hash = base64.b64encode(hashlib.sha256(_simple_body(body)).digest()).decode()
        tags = (
            f"v=1; a={self.algorithm}; c=relaxed/simple; d={self.domain}; "
            f"s={self.selector}; h={':'.join(names)}; bh={body_hash}; b="
        )
        signed = b"".join(_relaxed_header(name, headers[name]) for name in names)
        signed += b"dkim-signature:" + _compress(tags.encode())
        signature = base64.b64encode(self._signature(signed)).decode()
        return f"DKIM-Signature: {tags}{_folded(signature)}\r\n".encode() + message

    def _signature(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(hashlib.sha256(data).digest())  # RFC 8463 section 3

    def public_record(self) -> str:
        """The TXT record to publish at `selector._domainkey.domain`."""
        return f"v=DKIM1; k={_key_type(self.algorithm)}; p={public_key_text(self.key)}"


def public_key_text(key: PrivateKey) -> str:
    """The `p=` value of a DKIM record for `key`'s public half."""
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64encode(raw).decode()


def load_signer(config: Config, environ: Mapping[str, str]) -> DkimSigner | None:
    """The signer `[mail.dkim]` describes, its key loaded and checked; None without one."""
    settings = config.mail.dkim if config.mail else None
    if settings is None:
        return None
    pem = _private_key_pem(settings, config.path, environ)
    where = f"{config.path}: mail.dkim"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        problem = f"the private key is not an unencrypted PEM key ({error})"
        raise ConfigError(f"{where}: {problem}") from None
    wanted = rsa.RSAPrivateKey if settings.algorithm == "rsa-sha256" else ed25519.Ed25519PrivateKey
    if not isinstance(key, wanted):
        raise ConfigError(f"{where}: the private key does not suit algorithm {settings.algorithm}")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 1024:
        raise ConfigError(f"{where}: a {key.key_size}-bit RSA key is too short (use 2048)")
    return DkimSigner(settings.domain.lower(), settings.selector, settings.algorithm, key)


def check_published_key(
    signer: DkimSigner, lookup: Callable[[bytes], bytes | None] | None = None
) -> str:
    """Compare the selector's DNS record with the signer's key; ConfigError if they differ."""
    import dkim.dnsplug
    import dkim.util

    name = f"{signer.selector}._domainkey.{signer.domain}"
    record = (lookup or dkim.dnsplug.get_txt)(name.encode())
    if not record:
        raise ConfigError(f"mail.dkim: no TXT record at {name}; publish: {signer.public_record()}")
    try:
        tags = dkim.util.parse_tag_value(record)
    except dkim.util.InvalidTagValueList as error:
        problem = f"the TXT record at {name} is not a DKIM record ({error})"
        raise ConfigError(f"mail.dkim: {problem}") from None
    published = re.sub(rb"\s+", b"", tags.get(b"p", b"")).decode("ascii", "replace")
    if published != public_key_text(signer.key):
        raise ConfigError(
            f"mail.dkim: the key published at {name} is not the one mail.dkim signs with; "
            f"publish: {signer.public_record()}"
        )
    return f"DKIM key at {name} matches"


def _private_key_pem(settings: DkimConfig, config_path: Path, environ: Mapping[str, str]) -> bytes:
    if settings.private_key_env is not None:
        text = environ.get(settings.private_key_env, "")
        if not text.strip():
            raise ConfigError(
                f"{config_path}: mail.dkim.private_key_env: the environment variable "
                f"{settings.private_key_env} is not set or empty; it must hold the PEM key"
            )
        return text.encode()
    assert settings.private_key_file is not None
    path = config_path.resolve().parent / settings.private_key_file
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{config_path}: mail.dkim.private_key_file: {error}") from None


def _key_type(algorithm: str) -> str:
    return "ed25519" if algorithm == "ed25519-sha256" else "rsa"


def _parse_headers(block: bytes) -> dict[str, bytes]:
    """Each header's name (lower case) and raw value, the last instance of a repeated one."""
    headers: dict[str, bytes] = {}
    name = ""
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and name:
            headers[name] += b"\r\n" + line
            continue
        raw_name, _, value = line.partition(b":")
        name = raw_name.strip().lower().decode("ascii", "replace")
        headers[name] = value
    return headers


def _compress(value: bytes) -> bytes:
    return _WHITESPACE_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")


def _relaxed_header(name: str, value: bytes) -> bytes:
    return name.encode() + b":" + _compress(value) + b"\r\n"


def _simple_body(body: bytes) -> bytes:
    """RFC 6376 section 3.4.3: the body as it is, without empty lines at its end."""
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    return body


def _folded(signature: str) -> str:
    return "\r\n\t".join(signature[n : n + 72] for n in range(0, len(signature), 72))
