"""The security-contact audit done the way users do it without the operator: Microsoft's own
Python SDK (azure-identity + azure-mgmt-security, api-version 2023-12-01-preview) reading the
`default` security contact of every subscription, against the same simulator as the operator's
benchmark (benches/fleet.rs runs it; it is not meant to be run by hand, but can be).

Modes:
  asyncio     azure.identity.aio + azure.mgmt.security.aio, at most --concurrency requests in
              flight (an asyncio.Semaphore), one client per subscription: the client binds its
              subscription id, so that is how the SDK's samples read many subscriptions.
  asyncio-shared
              the same with every client on one aiohttp session (connection reuse): the SDK's
              best case, which few users set up.
  sequential  the synchronous SDK in a plain loop over --sample subscriptions, one client per
              subscription, as compliance scanners do; the figures are for the sample only (the
              caller extrapolates).

Prints one JSON object on stdout: wall and CPU seconds (resource.getrusage of this process),
subscriptions read, how many had a contact, had none (404), failed.
"""

import argparse
import asyncio
import datetime
import http.server
import ipaddress
import json
import os
import resource
import ssl
import sys
import tempfile
import threading
import time
from importlib.metadata import version

# Imported before the clock starts: the figures are for the audit, not for Python's imports.
import aiohttp
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.transport import AioHttpTransport
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from azure.mgmt.security import SecurityManagementClient
from azure.mgmt.security.aio import SecurityManagementClient as AsyncSecurityManagementClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_subscriptions(path, limit=None):
    with open(path, encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    return ids[:limit] if limit else ids


class Tally:
    def __init__(self):
        self.found = 0
        self.missing = 0
        self.failed = 0
        self.first_error = None

    def error(self, e):
        self.failed += 1
        if self.first_error is None:
            self.first_error = f"{type(e).__name__}: {e}"[:500]

    def as_dict(self):
        return {
            "found": self.found,
            "missing": self.missing,
            "failed": self.failed,
            "firstError": self.first_error,
        }


async def run_asyncio(args, subscriptions, shared_session):
    tally = Tally()
    semaphore = asyncio.Semaphore(args.concurrency)
    session = None
    if shared_session:
        ssl_context = ssl.create_default_context(cafile=args.ca)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=args.concurrency)
        )
    # The async credential posts straight to {authority}/{tenant}/oauth2/v2.0/token (no OIDC
    # discovery); instance discovery would ask login.microsoftonline.com about the host.
    credential = AsyncClientSecretCredential(
        args.tenant,
        args.client_id,
        args.client_secret,
        authority=args.url,
        disable_instance_discovery=True,
        connection_verify=args.ca,
    )

    async def one(subscription):
        async with semaphore:
            kwargs = {"base_url": args.url}
            if session is not None:
                kwargs["transport"] = AioHttpTransport(session=session, session_owner=False)
            else:
                kwargs["connection_verify"] = args.ca
            try:
                async with AsyncSecurityManagementClient(
                    credential, subscription, **kwargs
                ) as client:
                    await client.security_contacts.get("default")
                tally.found += 1
            except ResourceNotFoundError:
                tally.missing += 1
            except Exception as e:  # noqa: BLE001 - counted and reported, the run goes on
                tally.error(e)

    async with credential:
        await asyncio.gather(*(one(s) for s in subscriptions))
    if session is not None:
        await session.close()
    return tally


class OidcShim:
    """Serves `{tenant}/v2.0/.well-known/openid-configuration` over HTTPS on loopback.

    The synchronous credential (MSAL) reads the tenant's OpenID configuration before its first
    token request, and the simulator does not serve that document. The shim serves it with
    `token_endpoint` pointing at the simulator, so every token request still goes to the
    simulator's Entra endpoint, and nothing of MSAL is replaced.
    """

    def __init__(self, sim_url, tenant, sim_ca):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oidc-shim")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
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
        self.dir = tempfile.TemporaryDirectory()
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_path = os.path.join(self.dir.name, "shim.pem")
        key_path = os.path.join(self.dir.name, "shim.key")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(key_path, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        # One bundle trusted for both: the shim's certificate and the simulator's CA.
        self.bundle = os.path.join(self.dir.name, "bundle.pem")
        with open(sim_ca, "rb") as f, open(self.bundle, "wb") as out:
            out.write(f.read() + b"\n" + cert_pem)

        base = sim_url.rstrip("/")
        document = json.dumps(
            {
                "issuer": f"{base}/{tenant}/v2.0",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        ).encode()
        wanted = f"/{tenant}/v2.0/.well-known/openid-configuration"
        self.served = 0
        shim = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path.split("?")[0] == wanted:
                    shim.served += 1
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(document)))
                    self.end_headers()
                    self.wfile.write(document)
                else:
                    self.send_error(404)

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.dir.cleanup()


def run_sequential(args, subscriptions):
    shim = OidcShim(args.url, args.tenant, args.ca)
    tally = Tally()
    try:
        credential = ClientSecretCredential(
            args.tenant,
            args.client_id,
            args.client_secret,
            authority=shim.url,
            disable_instance_discovery=True,
            connection_verify=shim.bundle,
        )
        for subscription in subscriptions:
            try:
                with SecurityManagementClient(
                    credential, subscription, base_url=args.url, connection_verify=args.ca
                ) as client:
                    client.security_contacts.get("default")
                tally.found += 1
            except ResourceNotFoundError:
                tally.missing += 1
            except Exception as e:  # noqa: BLE001 - counted and reported, the run goes on
                tally.error(e)
    finally:
        shim.close()
    return tally, shim.served


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["asyncio", "asyncio-shared", "sequential"])
    parser.add_argument("--url", required=True, help="the simulator: ARM and authority host")
    parser.add_argument("--ca", required=True, help="the simulator's CA (PEM)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--subscriptions", required=True, help="file: one id a line")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sample", type=int, default=None, help="sequential: first N only")
    args = parser.parse_args()
    args.client_secret = os.environ["AZURE_CLIENT_SECRET"]

    limit = args.sample if args.mode == "sequential" else None
    subscriptions = read_subscriptions(args.subscriptions, limit)
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    oidc_documents = 0
    if args.mode == "sequential":
        tally, oidc_documents = run_sequential(args, subscriptions)
    else:
        tally = asyncio.run(run_asyncio(args, subscriptions, args.mode == "asyncio-shared"))
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
    json.dump(
        {
            "mode": args.mode,
            "subscriptions": len(subscriptions),
            "concurrency": args.concurrency if args.mode != "sequential" else 1,
            "wallSeconds": round(wall, 3),
            "cpuSeconds": round(cpu, 3),
            "oidcDocumentsServedByShim": oidc_documents,
            "python": sys.version.split()[0],
            "packages": {
                name: version(name)
                for name in ("azure-identity", "azure-mgmt-security", "azure-core", "aiohttp")
            },
            **tally.as_dict(),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
