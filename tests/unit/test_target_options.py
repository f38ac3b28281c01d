"""Building a new target from user input: the one place both front ends call."""

from __future__ import annotations

from pathlib import Path

import pytest

from recovery_console.engine.state.target_options import (
    check_new_target,
    local_target,
    s3_target,
    sftp_target,
    smb_target,
)
from recovery_console.errors import SecretUnavailableError, UsageError
from recovery_console.models.target import check_bucket_name


def never_asked() -> str:
    raise AssertionError("the secret was asked for although the target was refused")


def test_local_target_needs_an_existing_folder(tmp_path: Path) -> None:
    config, secrets = local_target("vault", str(tmp_path), quota=1 << 30)
    assert config.options == {"path": str(tmp_path)} and config.quota == 1 << 30 and secrets == {}
    with pytest.raises(UsageError, match="not an existing folder"):
        local_target("vault", tmp_path / "missing")
    with pytest.raises(UsageError, match="No folder"):
        local_target("vault", "  ")
    with pytest.raises(UsageError, match="quota"):
        local_target("vault", tmp_path, quota=0)


@pytest.mark.parametrize("bucket", ["", "  ", "s3://bucket", "bucket/prefix", "S3:bucket"])
def test_bucket_names_are_bare(bucket: str) -> None:
    with pytest.raises(UsageError, match="not a bucket name"):
        check_bucket_name(bucket)


def test_s3_target_settings_and_secret() -> None:
    config, secrets = s3_target("offsite", bucket=" backups ", endpoint_url="minio.lan:9000", prefix="/prod/db1/",
                                access_key_id=" AKIA ", secret_access_key=lambda: "s3cret", addressing_style="path")
    assert config.options == {"endpoint_url": "https://minio.lan:9000", "region": "", "bucket": "backups",
                              "prefix": "prod/db1", "use_tls": True, "verify_tls": True, "access_key_id": "AKIA",
                              "addressing_style": "path"}
    assert secrets == {"secret_access_key": "s3cret"}
    config, secrets = s3_target("iam", bucket="backups")
    assert "access_key_id" not in config.options and secrets == {}


def test_s3_target_refuses_before_asking_for_the_secret() -> None:
    with pytest.raises(UsageError, match="not a bucket name"):
        s3_target("x", bucket="s3://b", access_key_id="AKIA", secret_access_key=never_asked)
    with pytest.raises(UsageError, match="plain HTTP"):
        s3_target("x", bucket="b", endpoint_url="http://minio", access_key_id="AKIA", secret_access_key=never_asked)
    with pytest.raises(UsageError, match="without an access key id"):
        s3_target("x", bucket="b", secret_access_key=never_asked)
    with pytest.raises(SecretUnavailableError, match="No secret access key"):
        s3_target("x", bucket="b", access_key_id="AKIA", secret_access_key="")
    with pytest.raises(UsageError, match="addressing style"):
        s3_target("x", bucket="b", addressing_style="sideways")


def test_smb_target_splits_the_account_and_asks_for_the_password_last() -> None:
    config, secrets = smb_target("nas", host=" nas.lan ", share="\\backups\\", username="EXAMPLE\\ops",
                                 password=lambda: "pw", directory="a\\b")
    assert config.options == {"host": "nas.lan", "port": 445, "share": "backups", "username": "ops",
                              "domain": "EXAMPLE", "directory": "a/b"}
    assert secrets == {"password": "pw"}
    with pytest.raises(UsageError, match="no user name"):
        smb_target("nas", host="h", share="s", username="EXAMPLE\\", password=never_asked)
    with pytest.raises(UsageError, match="port"):
        smb_target("nas", host="h", share="s", username="u", password=never_asked, port=70000)
    with pytest.raises(SecretUnavailableError):
        smb_target("nas", host="h", share="s", username="u", password="")


def test_sftp_target_one_way_to_log_in() -> None:
    config, secrets = sftp_target("off", host="h", username="u", directory="/srv", password="pw")
    assert config.options["auth"] == "password" and secrets == {"password": "pw"}
    with pytest.raises(UsageError, match="No way to log in"):
        sftp_target("off", host="h", username="u", directory="/srv")
    with pytest.raises(UsageError, match="passphrase belongs"):
        sftp_target("off", host="h", username="u", directory="/srv", passphrase="p")
    with pytest.raises(UsageError, match="No SFTP directory"):
        sftp_target("off", host="h", username="u", directory=" ", password=never_asked)


def test_a_new_local_target_passes_the_round_trip(tmp_path: Path) -> None:
    report = check_new_target(local_target("vault", tmp_path))
    assert report.ok and [step.step for step in report.steps][:1] == ["list"]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # the probe object was deleted
