import pytest


@pytest.fixture(autouse=True)
def _private_exports(settings, tmp_path):
    """Export files in the test's own directory, apart from MEDIA_ROOT."""
    settings.EXPORTS_ROOT = tmp_path / "exports"
