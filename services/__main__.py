"""Operations commands: python -m services {prestart,serve,worker,migrate,seed,openapi,create-admin}."""

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
