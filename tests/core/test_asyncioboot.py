"""asyncio imported without ssl still speaks TLS once something imports ssl."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True)
    return key, crt


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)


def test_ssl_is_not_loaded_until_imported_then_tls_works(cert: tuple[Path, Path]) -> None:
    key, crt = cert
    done = _python(f"""
        import sys
        from sparkwing.asyncioboot import import_asyncio
        import_asyncio()
        import asyncio
        assert "ssl" not in sys.modules, "ssl was loaded with asyncio"
        assert asyncio.sslproto.ssl is None

        import ssl  # what aiohttp or any TLS client does first

        assert asyncio.base_events.ssl is ssl and asyncio.selector_events.ssl is ssl
        assert asyncio.sslproto.SSLAgainErrors == (ssl.SSLWantReadError, ssl.SSLSyscallError)

        async def main():
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain({str(crt)!r}, {str(key)!r})

            async def echo(reader, writer):
                writer.write((await reader.readline()).upper())
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
            port = server.sockets[0].getsockname()[1]
            client_ctx = ssl.create_default_context(cafile={str(crt)!r})
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
            writer.write(b"over tls\\n")
            await writer.drain()
            line = await reader.readline()
            writer.close()
            server.close()
            await server.wait_closed()
            return line

        print(asyncio.run(main()).decode().strip())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OVER TLS"


def test_nothing_changes_when_ssl_or_asyncio_is_already_loaded() -> None:
    done = _python("""
        import sys, ssl
        from sparkwing.asyncioboot import import_asyncio
        import_asyncio()
        import asyncio
        assert asyncio.sslproto.ssl is ssl
        assert not any(type(f).__name__ == "_SslWatcher" for f in sys.meta_path)
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_sparkwing_run_does_not_load_ssl(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".sparkwing" / "pipelines").mkdir(parents=True)
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        'pipelines:\n  - name: hello\n    entrypoint: "pipelines.hello:plan"\n')
    (project / ".sparkwing" / "pipelines" / "hello.py").write_text(
        "import sys\n"
        "def plan(plan, inputs, run):\n"
        "    plan.job('hello', lambda ctx: print('ssl loaded:', 'ssl' in sys.modules))\n")
    env_home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "run", "-C", str(project), "hello"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SPARKWING_HOME": str(env_home)})
    assert done.returncode == 0, done.stderr
    assert "ssl loaded: False" in done.stdout
