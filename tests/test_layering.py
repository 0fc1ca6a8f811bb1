"""The dependency rules between bot/, generation/ and db/, checked from the source's own imports."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "generation": {"discord", "sqlalchemy", "db", "bot", "aiosqlite", "asyncpg", "alembic"},
    "db": {"discord", "torch", "diffusers", "transformers", "PIL", "generation", "bot"},
}
# Only the config module reads configuration files and the environment.
ENV_READERS = {"os.environ", "os.getenv", "tomllib", "dotenv"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_forbidden_layers(package: str) -> None:
    """generation/ and db/ never import the packages the architecture keeps away from them."""
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for path in sorted((ROOT / package).rglob("*.py"))
           for line, name in _imports(path) if name.split(".")[0] in FORBIDDEN[package]]
    assert bad == []


def test_only_config_reads_environment_and_files() -> None:
    """Nothing but bot/config.py reads the environment or TOML configuration."""
    bad = []
    for package in ("bot", "generation", "db"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "bot" / "config.py":
                continue
            source = path.read_text(encoding="utf-8")
            bad += [f"{path.relative_to(ROOT)} uses {needle}" for needle in ENV_READERS if needle in source]
    assert bad == []


@pytest.mark.parametrize("module", ["generation", "generation.requests", "generation.prompt_params",
                                    "generation.errors", "db", "db.queue"])
def test_import_does_not_load_torch(module: str) -> None:
    """Importing the module leaves torch, diffusers and discord unloaded (cheap start, clean layers)."""
    code = (f"import sys, {module}; heavy = [m for m in ('torch', 'diffusers', 'transformers', 'discord') "
            f"if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
