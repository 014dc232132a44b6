"""Courier set to keep its documents in a bucket (issue #19), as each host of the
scaled-out set-up is: `courier inbox add` puts the file there, `courier doctor` checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.storage_s3 import S3Location
from tests.e2e.forkserver import run_courier
from tests.s3_bucket import S3_KEY_ID, S3_SECRET, bucket_keys

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_file_added_on_one_host_is_in_the_bucket_and_doctor_checks_it(
    tmp_path: Path, s3_location: S3Location
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURIER_", "AWS_"))}
    env |= {
        "COURIER_MAIL_DOMAIN": "in.example.com",
        "COURIER_DOCUMENT_STORE": "s3",
        "COURIER_S3_BUCKET": s3_location.bucket,
        "COURIER_S3_ENDPOINT_URL": s3_location.endpoint_url or "",
        "COURIER_S3_PREFIX": "documents",
        "COURIER_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "COURIER_S3_SECRET_ACCESS_KEY": S3_SECRET,
    }

    def courier(*args: str) -> tuple[int, str, str]:
        done = run_courier(*args, cwd=tmp_path, env=env)
        return done.returncode, done.stdout, done.stderr

    assert courier("workspace", "create", "Acme")[0] == 0
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(PDF)
    code, out, err = courier("inbox", "add", "--workspace", "acme", str(invoice), "--json")
    assert code == 0, err
    sha = hashlib.sha256(PDF).hexdigest()
    assert json.loads(out)["sha256"] == sha

    assert f"documents/{sha[:2]}/{sha[2:4]}/{sha}" in bucket_keys(s3_location)
    assert not (tmp_path / "var" / "documents").exists()
    [row] = json.loads(courier("inbox", "list", "--workspace", "acme", "--json")[1])
    assert row["filename"] == "invoice.pdf"

    code, out, err = courier("doctor", "--json")
    [storage] = [check for check in json.loads(out) if check["check"] == "storage"]
    assert storage["ok"], storage
    assert f"s3://{s3_location.bucket}/documents" in storage["detail"]
    for text in (out, err):
        assert S3_SECRET not in text
        assert S3_KEY_ID not in text
