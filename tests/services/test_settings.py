import pytest
from pydantic import ValidationError

from services.settings import PROJECT_ROOT, Environment, Settings


def test_production_refuses_placeholder_or_short_secrets() -> None:
    for secret in ("", "change-me", "short"):
        with pytest.raises(ValidationError, match="SECRET_KEY"):
            Settings(environment=Environment.production, secret_key=secret, database_url="postgresql://db/x")


def test_production_refuses_the_embedded_sqlite_database() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment=Environment.production, secret_key="k" * 40, database_url="sqlite:///x.db")


def test_production_with_real_settings_is_accepted() -> None:
    settings = Settings(
        environment=Environment.production, secret_key="k" * 40, database_url="postgresql://db/x"
    )
    assert settings.load_demo_seed is False


def test_defaults_are_the_embedded_mode() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert defaults["database_url"].startswith("sqlite:///")
    assert defaults["redis_url"] is None
    assert defaults["max_json_bytes"] == 1_000_000
    assert defaults["max_upload_bytes"] == 20_000_000
    assert Settings(environment=Environment.development, seed_demo_data=None).load_demo_seed is True


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"CARDIOALERT_{name.upper()}" in readme, name
