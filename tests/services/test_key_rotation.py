"""Key rotation drill, as docs/operations.md tells operators to run it: stored files under an old
key; a new key is added and made active; `python -m services reencrypt-blobs` moves every blob to
it (stoppable, safe to run again, `--check` tells when no blob needs the old key any more); the
old key leaves the ring; every file still reads, through the store and through the API."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from services.__main__ import main
from services.accounts.models import User
from services.db import get_engine
from services.settings import new_blob_key
from services.storage import get_blob_store
from services.studies.models import StudyResult
from tests.services.studies.support import RECORD, make_analysed_study
from tests.support import make_user, settings_changed, sign_in


@pytest.fixture
def committed() -> Iterator[Session]:
    """Real commits: the command reads the studies with its own session. The patient made here
    is deleted at the end (studies and results go with it)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        before = set(session.exec(select(User.id)).all())
        yield session
        session.rollback()
        for user in session.exec(select(User)).all():
            if user.id not in before:
                session.delete(user)
        session.commit()


def test_key_rotation_drill_reencrypts_every_blob_and_retires_the_old_key(
    committed: Session, client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = new_blob_key(), new_blob_key()
    blobs = {"CARDIOALERT_BLOB_DIR": str(tmp_path)}
    with settings_changed(**blobs, CARDIOALERT_BLOB_KEYS=f"old:{old}", CARDIOALERT_BLOB_ACTIVE_KEY_ID=""):
        patient = make_user(committed)
        studies = [make_analysed_study(committed, patient, None) for _ in range(3)]
        signals = {s.id: get_blob_store().get(f"studies/{s.id}/signal.npy") for s in studies}

    with settings_changed(
        **blobs, CARDIOALERT_BLOB_KEYS=f"new:{new},old:{old}", CARDIOALERT_BLOB_ACTIVE_KEY_ID="new"
    ):
        assert main(["reencrypt-blobs", "--check"]) == 1  # blobs still need the old key
        assert "'old': 6" in capsys.readouterr().out
        assert main(["reencrypt-blobs"]) == 0
        assert "re-encrypted 6, already under 'new' 0, missing 0" in capsys.readouterr().out
        assert main(["reencrypt-blobs"]) == 0  # run again (after a stop): nothing left to do
        assert "re-encrypted 0, already under 'new' 6" in capsys.readouterr().out
        assert main(["reencrypt-blobs", "--check"]) == 0
        assert "{'new': 6}" in capsys.readouterr().out

    with settings_changed(**blobs, CARDIOALERT_BLOB_KEYS=f"new:{new}", CARDIOALERT_BLOB_ACTIVE_KEY_ID="new"):
        store = get_blob_store()
        assert set(store.key_ring.keys) == {"new"}
        for study in studies:
            assert store.get_blob(study.blob_key).key_id == "new"
            assert store.get(study.blob_key) == RECORD.read_bytes()
            assert store.get(f"studies/{study.id}/signal.npy") == signals[study.id]
        headers = sign_in(committed, patient)
        for study in studies:
            original = client.get(f"/v1/studies/{study.id}/original", headers=headers)
            assert original.status_code == 200 and original.content == RECORD.read_bytes()
            assert client.get(f"/v1/studies/{study.id}/signal", headers=headers).status_code == 200
    assert all(committed.get(StudyResult, s.id) is not None for s in studies)
