"""python -m clinics_seed: load the demo clinics into the configured database."""

import sys

from sqlmodel import Session

from clinics_seed import load_clinics
from services.db import get_engine


def main() -> int:
    with Session(get_engine()) as session:
        report = load_clinics(session)
        session.commit()
    print(  # noqa: T201 - a command-line report
        f"clinics seed: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
