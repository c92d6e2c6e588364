"""Operations commands: python -m services {prestart,serve,worker,migrate,seed,openapi,create-admin,
new-blob-key,reencrypt-blobs}."""

import argparse
import getpass
import os
import sys

from sqlmodel import Session

from services.settings import get_settings


def prestart() -> None:
    """Wait for the database, migrate to head, then load the demo clinics when enabled."""
    from services.migrations import upgrade_to_head, wait_for_database

    settings = get_settings()
    if not settings.is_sqlite:
        wait_for_database(settings.database_url)
    upgrade_to_head(settings.database_url)
    if settings.load_demo_seed:
        seed()


def seed() -> None:
    from clinics_seed.__main__ import main as load_seed

    load_seed()


def serve(host: str, port: int) -> None:
    import uvicorn

    prestart()
    print(f"CardioAlert API on http://{host}:{port} — interactive docs: http://{host}:{port}/docs")  # noqa: T201
    uvicorn.run(
        "services.app:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        limit_concurrency=get_settings().max_concurrent_requests,
    )


def write_openapi() -> None:
    from services.app import create_app
    from services.openapi import write_contract

    print(f"wrote {write_contract(create_app())}")  # noqa: T201


def create_admin(email: str, full_name: str) -> None:
    """Bootstrap the first admin; the password comes from CARDIOALERT_ADMIN_PASSWORD or a prompt."""
    from services.accounts.models import Role
    from services.accounts.schemas import StaffCreate
    from services.accounts.service import create_staff_member
    from services.db import get_engine

    password = os.environ.get("CARDIOALERT_ADMIN_PASSWORD") or getpass.getpass("Password for the admin: ")
    data = StaffCreate(role=Role.admin, email=email, full_name=full_name, password=password)
    with Session(get_engine()) as session:
        admin = create_staff_member(session, data)
        session.commit()
    print(f"admin {admin.email} created")  # noqa: T201


def reencrypt_blobs(check: bool) -> int:
    """Key rotation: every stored blob under the active key (or, with --check, how many blobs
    each key id still protects; exit status 1 while any is under another). Stoppable and safe
    to run again."""
    from services.db import get_engine
    from services.storage import RotationReport, get_blob_store, key_ids_in_use, reencrypt_all
    from services.studies.service import stored_blob_keys

    store = get_blob_store()
    active = store.key_ring.active_id
    with Session(get_engine()) as session:
        keys = list(stored_blob_keys(session))
    if check:
        counts = key_ids_in_use(store, keys)
        print(f"{len(keys)} blobs by key id: {dict(sorted(counts.items()))}; active key: {active}")  # noqa: T201
        return 0 if set(counts) <= {active} else 1

    def progress(report: RotationReport) -> None:
        if report.seen % 100 == 0 or report.seen == len(keys):
            print(f"\r{report.seen}/{len(keys)} blobs", end="", flush=True)  # noqa: T201

    report = reencrypt_all(store, keys, progress)
    print(  # noqa: T201
        f"\nre-encrypted {report.reencrypted}, already under {active!r} {report.already_active}, "
        f"missing {len(report.missing)}"
    )
    for key in report.missing:
        print(f"missing: {key}")  # noqa: T201
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prestart", help="wait for the database, migrate, seed")
    serve_parser = commands.add_parser("serve", help="prestart, then serve the API")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    commands.add_parser("worker", help="run the background worker")
    commands.add_parser("migrate", help="alembic upgrade head")
    commands.add_parser("seed", help="load the demo clinics (idempotent)")
    commands.add_parser("openapi", help="write ios_contract/openapi.json")
    admin_parser = commands.add_parser("create-admin", help="create an admin account")
    admin_parser.add_argument("--email", required=True)
    admin_parser.add_argument("--name", default="Administrator")
    commands.add_parser("new-blob-key", help="print a fresh blob encryption key (for CARDIOALERT_BLOB_KEYS)")
    rotate_parser = commands.add_parser(
        "reencrypt-blobs", help="store every blob under the active key (key rotation; see docs/operations.md)"
    )
    rotate_parser.add_argument("--check", action="store_true", help="only count the blobs per key id")
    args = parser.parse_args(argv)

    if args.command == "prestart":
        prestart()
    elif args.command == "serve":
        serve(args.host, args.port)
    elif args.command == "worker":
        from services.worker import run_forever

        run_forever()
    elif args.command == "migrate":
        from services.migrations import upgrade_to_head

        upgrade_to_head(get_settings().database_url)
    elif args.command == "seed":
        seed()
    elif args.command == "openapi":
        write_openapi()
    elif args.command == "create-admin":
        create_admin(args.email, args.name)
    elif args.command == "new-blob-key":
        from services.settings import new_blob_key

        print(new_blob_key())  # noqa: T201
    elif args.command == "reencrypt-blobs":
        return reencrypt_blobs(args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
