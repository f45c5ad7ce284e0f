"""GitHub App settings: where the key comes from, what a bad one says, and the JWT's claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from sparkwing_github import settings
from sparkwing_github.app_auth import AppKeyError, app_jwt

from .conftest import rsa_pem


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (settings.APP_ID_ENV, settings.APP_KEY_ENV, settings.APP_KEY_SOURCE_ENV,
                 settings.APP_INSTALLATION_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_key_comes_from_a_file_or_a_variable_and_is_never_shown(
    clean: pytest.MonkeyPatch, tmp_path: Path, app_keys: tuple[bytes, bytes],
) -> None:
    private, _ = app_keys
    pem = private.decode()
    assert not settings.app_configured()
    clean.setenv(settings.APP_ID_ENV, "12")
    assert settings.app_configured()
    assert "SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE" in settings.app_settings().problem()

    (tmp_path / "k.pem").write_text(pem)
    clean.setenv(settings.APP_KEY_SOURCE_ENV, f"file:{tmp_path / 'k.pem'}")
    app = settings.app_settings()
    assert (app.problem(), app.private_key.strip(), app.key_origin) == (
        "", pem.strip(), "SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE (file)")
    assert "PRIVATE KEY" not in repr(app)

    clean.setenv("MY_KEY", pem)
    clean.setenv(settings.APP_KEY_SOURCE_ENV, "env:MY_KEY")
    assert settings.app_settings().private_key == pem

    clean.setenv(settings.APP_KEY_ENV, pem.replace("\n", "\\n"))  # one-line form
    assert settings.app_settings().private_key == pem


@pytest.mark.parametrize(("env", "message"), [
    ({settings.APP_ID_ENV: "12", settings.APP_KEY_SOURCE_ENV: "vault:x"},
     "must be env:VAR or file:/path (got vault:...)"),
    ({settings.APP_ID_ENV: "12", settings.APP_KEY_SOURCE_ENV: "env:UNSET_KEY_VAR"},
     "variable UNSET_KEY_VAR is unset"),
    ({settings.APP_ID_ENV: "12", settings.APP_KEY_SOURCE_ENV: "file:/nonexistent/k.pem"},
     "file /nonexistent/k.pem is"),
    ({settings.APP_ID_ENV: "12", settings.APP_KEY_ENV: "x", settings.APP_INSTALLATION_ENV: "abc"},
     "SPARKWING_GITHUB_APP_INSTALLATION_ID must be a number"),
    ({settings.APP_KEY_ENV: "x"}, "SPARKWING_GITHUB_APP_ID is not set"),
])
def test_bad_settings_name_the_variable(clean: pytest.MonkeyPatch, env: dict[str, str],
                                        message: str) -> None:
    clean.delenv("UNSET_KEY_VAR", raising=False)
    for name, value in env.items():
        clean.setenv(name, value)
    assert message in settings.app_settings().problem()


def test_the_jwt_is_rs256_backdated_and_short_lived(app_keys: tuple[bytes, bytes]) -> None:
    import jwt

    private, public = app_keys
    app = settings.AppSettings("12", private.decode(), "test")
    token = app_jwt(app, now=1_800_000_000)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_exp": False,
                                                                       "verify_iat": False})
    assert claims == {"iss": "12", "iat": 1_800_000_000 - 60, "exp": 1_800_000_000 + 540}
    _, other_public = rsa_pem()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_public, algorithms=["RS256"],
                   options={"verify_exp": False, "verify_iat": False})


def test_a_key_that_cannot_sign_gives_a_one_line_error_without_the_key() -> None:
    app = settings.AppSettings("12", "-----BEGIN NOT A KEY-----\nc2VjcmV0\n", "MY_SOURCE")
    with pytest.raises(AppKeyError) as info:
        app_jwt(app)
    message = str(info.value)
    assert message.startswith("the GitHub App private key from MY_SOURCE is not a usable RSA")
    assert "c2VjcmV0" not in message and "\n" not in message
