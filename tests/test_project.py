"""Project-wide guards: migrations match the models, the API schema is clean."""

import pytest
import yaml
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_openapi_schema_generates_without_warnings_and_validates(tmp_path):
    schema_file = tmp_path / "schema.yaml"

    call_command(
        "spectacular", "--fail-on-warn", "--validate", "--file", str(schema_file)
    )

    schema = yaml.safe_load(schema_file.read_text())
    assert {"/api/v1/gifts/", "/api/v1/gifts/{slug}/", "/api/v1/auth/token/"} <= set(
        schema["paths"]
    )
    undocumented = [
        f"{component}.{name}"
        for component, body in schema["components"]["schemas"].items()
        for name, field in body.get("properties", {}).items()
        if not field.get("description")
    ]
    assert undocumented == []


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
