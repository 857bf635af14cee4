"""Debian's nginx for tests, configured from the block in ``docs/deployment.md``.

``site_config()`` reads the documented server configuration and puts in the test's ports,
certificate and upstream, failing when the documented text no longer has what it replaces (so
the docs cannot drift from what is tested). ``nginx_server()`` runs nginx in the foreground
with everything it writes (pid, logs, temporary files) in a temporary prefix, on loopback.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .servers import REPO, free_port, require_binary, run_process

DOCS = REPO / "docs" / "deployment.md"
DOCS_SECTION = "## Several machines behind a load balancer"
NGINX = "/usr/sbin/nginx"  # Debian's package puts it here, outside a normal user's PATH


@dataclass(frozen=True)
class Nginx:
    base_url: str  # https://127.0.0.1:PORT
    certificate: Path  # the self-signed certificate to trust
    prefix: Path  # where its logs are


def docs_nginx_block(text: str | None = None) -> str:
    """The first ```nginx block of the load-balancer section of docs/deployment.md."""
    text = DOCS.read_text(encoding="utf-8") if text is None else text
    section = text.partition(DOCS_SECTION)[2]
    found = re.search(r"^```nginx\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    if not section or found is None:
        raise LookupError(f"no ```nginx block under {DOCS_SECTION!r} in {DOCS.name}")
    return found.group(1)


def site_config(block: str, *, port: int, upstream: str, certificate: Path, key: Path) -> str:
    """The documented block, with the test's addresses and files in place of the examples."""
    replacements = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{port} ssl http2;",
        "server 10.0.0.11:8000 ": f"server {upstream} ",
        "server 10.0.0.12:8000 ": f"server {upstream} ",
        "/etc/ssl/tasks.example.com.crt": str(certificate),
        "/etc/ssl/tasks.example.com.key": str(key),
    }
    for old, new in replacements.items():
        if block.count(old) != 1:
            raise LookupError(
                f"the nginx block in docs/deployment.md should contain {old!r} once; if the "
                "docs changed on purpose, update tests/support/nginx.py to match"
            )
        block = block.replace(old, new)
    return block


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _worker_user() -> str:
    """The ``user`` line: as root, nginx's workers drop to Debian's www-data (or nobody)."""
    if os.geteuid() != 0:
        return ""  # nginx ignores the directive (with a warning) unless started as root
    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return f"user {name};"
    return ""


def main_config(prefix: Path, site: Path) -> str:
    """nginx.conf around the documented site: every file it writes is under ``prefix``."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{_worker_user()}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{
    worker_connections 512;
}}
http {{
    access_log {prefix / "access.log"};
{temp}
    include {site};
}}
"""


@contextlib.contextmanager
def nginx_server(upstream: str, timeout: float = 20.0) -> Iterator[Nginx]:
    """nginx in the foreground with the documented configuration, proxying to ``upstream``."""
    binary = (
        NGINX if os.path.exists(NGINX) else require_binary("nginx", hint="apt-get install nginx")
    )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="aaf-nginx-") as tmp:
        prefix = Path(tmp)
        prefix.chmod(0o755)  # the workers (www-data under root) create their temp files here
        certificate, key = self_signed_certificate(prefix)
        site = prefix / "site.conf"
        site.write_text(
            site_config(
                docs_nginx_block(), port=port, upstream=upstream, certificate=certificate, key=key
            )
        )
        conf = prefix / "nginx.conf"
        conf.write_text(main_config(prefix, site))
        command = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        command += ["-g", "daemon off;"]
        with (
            (prefix / "stderr.log").open("w+b") as log,
            run_process(command, port, "nginx", timeout=timeout, log=log),
        ):
            yield Nginx(f"https://127.0.0.1:{port}", certificate, prefix)
