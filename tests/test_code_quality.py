"""The layout the design card fixes, ruff's verdict, and the library boundary of ecg_ml."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = [
    "services",
    "booking",
    "ecg_ml",
    "notifications",
    "i18n",
    "clinics_seed",
    "migrations",
    "ios_contract",
    "tests",
    "bench",
    "docs",
    "docker-compose.yml",
    "Dockerfile",
    "Makefile",
    "README.md",
    "pyproject.toml",
]


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found, "ruff is a dev dependency: pip install -e '.[dev]'"
    return [found]


def test_the_design_card_layout_exists() -> None:
    missing = [name for name in TOP_LEVEL if not (PROJECT_ROOT / name).exists()]
    assert missing == []


def test_ruff_lint_is_clean() -> None:
    result = subprocess.run(
        [*_ruff(), "check", "."], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = subprocess.run(
        [*_ruff(), "format", "--check", "."], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ecg_ml_imports_nothing_from_the_web_side() -> None:
    forbidden = ("fastapi", "starlette", "sqlmodel", "sqlalchemy", "services", "booking", "notifications")
    for path in (PROJECT_ROOT / "ecg_ml").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path}: imports {name}"


def test_the_api_process_does_not_load_the_ecg_models() -> None:
    """torch, NeuroKit2 and OpenCV load in the worker that analyses ECGs, not in every API
    process (they cost seconds of start-up and hundreds of MB per replica)."""
    check = (
        "import sys, services.app; "
        "sys.exit(sorted(m for m in ('torch', 'cv2', 'neurokit2') if m in sys.modules) or 0)"
    )
    run = subprocess.run(
        [sys.executable, "-c", check], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
