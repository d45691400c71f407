"""How `oms` connects to Temporal: plain, TLS, mTLS with certificate files, or an API key (Temporal Cloud)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from settings import Settings
from worker import TemporalUnreachable, tls_config


def test_a_local_server_is_reached_without_tls() -> None:
    assert tls_config(Settings()) is False


def test_an_api_key_switches_tls_on_by_itself() -> None:
    assert tls_config(Settings(temporal_api_key="key")) is True


def test_client_certificate_files_are_read_for_mtls(tmp_path: Path) -> None:
    cert, key, ca = tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "ca.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")

    tls = tls_config(
        Settings(
            temporal_tls_cert=cert, temporal_tls_key=key, temporal_tls_ca=ca, temporal_tls_server_name="temporal.shop"
        )
    )

    assert tls == TLSConfig(
        client_cert=b"CERT", client_private_key=b"KEY", server_root_ca_cert=b"CA", domain="temporal.shop"
    )


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="OMS_TEMPORAL_TLS_CERT and OMS_TEMPORAL_TLS_KEY go together"):
        Settings(temporal_tls_cert=tmp_path / "client.pem")


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    settings = Settings(temporal_tls_cert=tmp_path / "gone.pem", temporal_tls_key=tmp_path / "gone.key")

    with pytest.raises(TemporalUnreachable, match=r"cannot read a TLS file: .*gone\.pem: No such file"):
        tls_config(settings)
