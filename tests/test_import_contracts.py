"""The import contracts ([tool.importlinter] in pyproject.toml) hold and catch a breach.

`lint-imports` reads the source, it imports nothing, so a breach is tried on a copy
of the tree with one wrong module added; the real tree is never touched.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "bench", "tests", "config", "reports", "payouts", "subscriptions", "gifting",
    "wallets", "catalog", "audit", "accounts", "core",
]
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)



def lint_imports(cwd: Path, contract: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo",
         "--contract", contract],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The project's packages (Python files only) and its pyproject.toml."""
    copy = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            target = copy / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return copy


@pytest.mark.parametrize(
    "contract", ["layers", "no-foreign-api-admin", "audit-plugged-in"]
)
def test_the_tree_keeps_the_contract(contract):
    result = lint_imports(ROOT, contract)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


@pytest.mark.parametrize(
    ("contract", "probe", "source", "breach"),
    [
        # An upward import: the catalog reading payouts.
        ("layers", "catalog", "from payouts.models import Payout\n",
         "catalog._contract_probe -> payouts.models"),
        # Downward, so the layers allow it, but into another app's admin.
        ("no-foreign-api-admin", "gifting", "from catalog.admin import GiftAdmin\n",
         "gifting._contract_probe -> catalog.admin"),
        # An app reaching for the audit, which only settings may plug in.
        ("audit-plugged-in", "wallets", "from audit.context import current_actor\n",
         "wallets._contract_probe -> audit.context"),
    ],
)
def test_a_wrong_import_breaks_the_contract(tree_copy, contract, probe, source, breach):
    module = tree_copy / probe / "_contract_probe.py"
    module.write_text(source)
    try:
        result = lint_imports(tree_copy, contract)
    finally:
        module.unlink()

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert breach in result.stdout
