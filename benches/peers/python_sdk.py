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
import json
import os
import resource
import ssl
import sys
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


def run_sequential(args, subscriptions):
    tally = Tally()
    # MSAL reads the tenant's OpenID configuration from the authority (the simulator serves
    # it, as login.microsoftonline.com does) before its first token request.
    credential = ClientSecretCredential(
        args.tenant,
        args.client_id,
        args.client_secret,
        authority=args.url,
        disable_instance_discovery=True,
        connection_verify=args.ca,
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
    return tally


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
    if args.mode == "sequential":
        tally = run_sequential(args, subscriptions)
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
