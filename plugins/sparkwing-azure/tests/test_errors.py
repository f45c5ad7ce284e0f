"""What a user sees when the azure block, the container or the credentials are wrong: one line each."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable

import pytest
from sparkwing.errors import ConfigError, SparkwingError, StoreError
from sparkwing.storage.blobs.contracts import BlobUnavailable
from sparkwing_azure.settings import parse_settings
from sparkwing_azure.store import AzureBlobStore
from sparkwing_azure.testing import Azurite, connection_string


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


CONN = "DefaultEndpointsProtocol=https;AccountName=teamci;AccountKey=a2V5;EndpointSuffix=core.windows.net"


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ({"url": CONN}, "container is required"),
        ({"container": "Bad_Name", "url": CONN}, 'container "Bad_Name" is not a valid Azure'),
        ({"container": "a--b", "url": CONN}, "is not a valid Azure container name"),
        ({"container": "ok-c"}, "no account given; set url_source: env:VAR"),
        ({"container": "ok-c", "url": "not a connection string"},
         "url_source must hold a connection string"),
        ({"container": "ok-c", "url": CONN, "account": "teamci"},
         "url_source and account both name the account; keep one"),
        ({"container": "ok-c", "account": "Team_CI"}, 'account "Team_CI" is not a storage account'),
        ({"container": "ok-c", "endpoint_url": "127.0.0.1:10000"},
         "must start with http:// or https://"),
        ({"container": "ok-c", "url": CONN, "prefix": "a/./b"}, "must not contain . or .."),
        ({"container": "ok-c", "url": CONN, "retries": 1.5e9}, "retries must be a number"),
    ],
)
def test_bad_settings_are_one_line_config_errors(block: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(block, "team", environ={})
    text = _one_line(err.value)
    assert text.startswith('profile "team": azure')
    assert needle in text


def test_the_accounts_an_azure_block_can_name() -> None:
    by_account = parse_settings({"container": "team-ci", "account": "teamci"}, "team", environ={})
    assert by_account.account_url == "https://teamci.blob.core.windows.net"
    assert not by_account.sas and by_account.connection_string is None
    sas = parse_settings({"container": "team-ci", "url": "https://teamci.blob.core.windows.net/?sv=x&sig=y"},
                         "team", environ={})
    assert sas.sas and sas.endpoint == "https://teamci.blob.core.windows.net/"
    from_env = parse_settings({"container": "team-ci"}, "team",
                              environ={"AZURE_STORAGE_CONNECTION_STRING": CONN})
    assert from_env.connection_string == CONN
    assert from_env.endpoint == "https://teamci.blob.core.windows.net"


def test_missing_container_is_found_by_check(azurite: Azurite) -> None:
    store = AzureBlobStore(parse_settings(
        {"container": "no-such-container", "url": azurite.connection_string, "retries": 0},
        "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert text.startswith(
            'azure container "no-such-container" does not exist at '
            f"{azurite.endpoint}/devstoreaccount1")
        assert "fix the container key" in text
        with pytest.raises(StoreError) as err2:
            store.put("k", b"x")
        assert "does not exist" in _one_line(err2.value)
    finally:
        store.close()


def test_refused_credentials_are_found_by_check(azurite: Azurite, container: str) -> None:
    wrong_key = base64.b64encode(b"not the account key" * 3).decode()
    store = AzureBlobStore(parse_settings(
        {"container": container, "url": connection_string(azurite.endpoint, wrong_key),
         "retries": 0}, "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert text.startswith(
            f'azure container "{container}": Azure refused the credentials')
        with pytest.raises(StoreError) as err2:
            store.put("k", b"x")
        assert "refused the credentials" in _one_line(err2.value)
    finally:
        store.close()


@pytest.fixture
def dead_endpoint() -> str:
    """An address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_endpoint_is_unavailable(
        open_store: Callable[..., AzureBlobStore], dead_endpoint: str) -> None:
    store = open_store(url=connection_string(dead_endpoint), timeout=2)
    for call in (store.check, lambda: store.get("k"), lambda: store.put("k", b"x"),
                 lambda: store.list_page(""), lambda: store.head("k")):
        with pytest.raises(BlobUnavailable) as err:
            call()
        assert f"cannot reach {dead_endpoint}/devstoreaccount1" in _one_line(err.value)
        assert isinstance(err.value, SparkwingError)
