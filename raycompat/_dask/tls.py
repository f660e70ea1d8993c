"""TLS for `raycompat start --tls`: certificates, distributed's ``Security``, and worker settings.

One private CA signs one certificate that the scheduler, the workers and the clients all show:
every connection is mutually authenticated (each side proves it holds a certificate of the
CA), as distributed's own ``Security.temporary()`` does. The CA's key is thrown away once the
certificate is signed, so the directory can mint nothing new; copy it (0700) to join machines.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from typing import Any

from distributed.security import Security

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"


def files(directory: str) -> dict[str, str]:
    """The {"ca_file", "cert", "key"} paths in ``directory``, as the address file stores them."""
    return {
        "ca_file": os.path.join(directory, CA_FILE),
        "cert": os.path.join(directory, CERT_FILE),
        "key": os.path.join(directory, KEY_FILE),
    }


def exists(directory: str) -> bool:
    return all(os.path.isfile(path) for path in files(directory).values())


def generate(directory: str, hosts: list[str] | None = None, days: int = 365) -> dict[str, str]:
    """Write a new CA certificate and a certificate/key pair it signed into ``directory`` (0700)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raycompat cluster CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname())]
    for host in ["127.0.0.1", *(hosts or [])]:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raycompat")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(names))), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths = files(directory)
    _write(paths["ca_file"], ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(paths["cert"], cert.public_bytes(serialization.Encoding.PEM))
    _write(
        paths["key"],
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return paths


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def security(paths: dict[str, str]) -> Any:
    """distributed's ``Security`` for every role, with encryption required."""
    return Security(
        tls_ca_file=paths["ca_file"],
        tls_scheduler_cert=paths["cert"],
        tls_scheduler_key=paths["key"],
        tls_worker_cert=paths["cert"],
        tls_worker_key=paths["key"],
        tls_client_cert=paths["cert"],
        tls_client_key=paths["key"],
        require_encryption=True,
    )


def worker_env(paths: dict[str, str]) -> dict[str, str]:
    """Dask settings, as environment variables, that make a worker process use these files."""
    return {
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        "DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME": "tls",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": paths["ca_file"],
        "DASK_DISTRIBUTED__COMM__TLS__WORKER__CERT": paths["cert"],
        "DASK_DISTRIBUTED__COMM__TLS__WORKER__KEY": paths["key"],
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": paths["cert"],
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": paths["key"],
    }
