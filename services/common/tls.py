"""TLS between services: certificate files, checked at start, and gRPC credentials.

A service serves TLS on its gRPC port when it has a certificate and a key;
with a client CA as well, every caller must present a certificate signed by
that CA (mutual TLS), so only the holders of such a certificate (the edge)
can call it. The edge presents its certificate on every downstream channel
and verifies the servers against its own CA setting.

Files are read once, at start: a file that is missing, unreadable, not PEM, or
a key that does not belong to its certificate stops the start with a message
naming the setting. A rotated certificate is picked up by a restart.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


def certificates(path: str) -> bytes:
    """The PEM certificates in `path` (at least one), or ValueError saying why not."""
    data = _read(path)
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError(f"{path} holds no PEM certificate") from None
    return data


def private_key(path: str) -> bytes:
    """The unencrypted PEM private key in `path`, or ValueError saying why not."""
    data = _read(path)
    _load_key(data, path)
    return data


def _load_key(data: bytes, path: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(
            f"{path} holds an encrypted private key; give an unencrypted one"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{path} holds no PEM private key") from None


def key_matches(cert_path: str, key_path: str) -> bool:
    """True when the key in `key_path` belongs to the first certificate in `cert_path`."""
    cert = x509.load_pem_x509_certificates(_read(cert_path))[0]
    key = _load_key(_read(key_path), key_path)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(encoding, public)
        == key.public_key().public_bytes(encoding, public)
    )


def check_pair(cert_setting: str, cert_file: str, key_setting: str, key_file: str) -> None:
    """ValueError naming the settings unless both files are set and belong together,
    or neither is set."""
    if bool(cert_file) != bool(key_file):
        raise ValueError(f"{cert_setting} and {key_setting} go together: set both or neither")
    if cert_file and not key_matches(cert_file, key_file):
        raise ValueError(f"{key_setting} is not the key of the certificate in {cert_setting}")


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str
) -> grpc.ServerCredentials:
    """TLS with the service's certificate; mutual when a client CA is given."""
    pair = [(private_key(key_file), certificates(cert_file))]
    if client_ca_file:
        return grpc.ssl_server_credentials(
            pair, root_certificates=certificates(client_ca_file), require_client_auth=True
        )
    return grpc.ssl_server_credentials(pair)


def channel_credentials(ca_file: str, cert_file: str, key_file: str) -> grpc.ChannelCredentials:
    """TLS to a service: servers verified by `ca_file` (the system's CAs when
    empty), this process's certificate presented when `cert_file` is set."""
    return grpc.ssl_channel_credentials(
        root_certificates=certificates(ca_file) if ca_file else None,
        private_key=private_key(key_file) if key_file else None,
        certificate_chain=certificates(cert_file) if cert_file else None,
    )
