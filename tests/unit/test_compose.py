"""docker-compose.yml stays true to the code: its roles exist, its settings are settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from core.config import Settings
from courier.parser import build_parser

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_one_service_per_role_with_a_health_check() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "bot", "mail", "scheduler"} <= services.keys()
    for role in ("postgres", "bot", "mail", "scheduler"):
        assert "healthcheck" in services[role], role
    for role in ("bot", "mail", "scheduler"):
        assert services[role]["command"] == [role]
        assert (
            services[role]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )


def test_every_role_keeps_its_documents_in_the_bucket_the_compose_file_makes() -> None:
    services = _compose()["services"]
    for role in ("bot", "mail", "scheduler"):
        env = services[role]["environment"]
        assert env["COURIER_DOCUMENT_STORE"] == "s3"
        assert env["COURIER_S3_ENDPOINT_URL"].endswith("http://minio:9000}")
        assert services[role]["depends_on"]["bucket"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_every_command_and_setting_it_names_exists() -> None:
    services = _compose()["services"]
    parser = build_parser()
    for name, service in services.items():
        if service.get("image") != "courier:latest":
            continue  # PostgreSQL, the bucket's MinIO: not Courier
        parser.parse_args(service["command"])  # exits 2 on a command the CLI lacks
        for variable in service["environment"]:
            field = re.sub(r"^COURIER_", "", variable).lower()
            assert field in Settings.model_fields, f"{name}: {variable} is not a setting"
        assert service["environment"]["COURIER_DATABASE_URL"].startswith("postgresql+asyncpg://")
