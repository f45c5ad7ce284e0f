"""``python -m sparkwing_k8s.testing serve --port N --kubeconfig FILE``: run the fake API server.

It serves until interrupted (Ctrl-C or SIGTERM), then kills every pod's
process. Pods run as subprocesses of this server, in ``--image-root``
(default: the current directory) with this process's environment, which
stands for the image: start it from the project you want to run, with the
``sparkwing`` you want the pods to use on ``PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from . import DEFAULT_TOKEN, FakeKubernetes
from .simulate import ANNOTATION, ANNOTATION_AFTER, FAILURES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sparkwing_k8s.testing",
        description="A fake Kubernetes API server that runs each Job's pod as a local process.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="serve the fake API and write a kubeconfig pointing at it",
        epilog="Simulated failures: annotate a Job with "
               f"{ANNOTATION}=<failure> (and {ANNOTATION_AFTER}=<seconds>), or POST "
               '{"failure": ..., "selector": ..., "count": N} to /fake/v1/simulations. '
               "Failures: " + "; ".join(f"{k}: {v}" for k, v in FAILURES.items()),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    serve.add_argument("--kubeconfig", type=Path, required=True,
                       help="file to write the kubeconfig to (use it as KUBECONFIG)")
    serve.add_argument("--namespace", default="default",
                       help="namespace the kubeconfig's context uses (default: default)")
    serve.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token clients must send")
    serve.add_argument("--image-root", type=Path, default=None,
                       help="working directory of pods without workingDir (default: cwd)")
    serve.add_argument("--tls", action="store_true",
                       help="serve HTTPS with a self-signed certificate (needs openssl); the "
                            "kubeconfig trusts it")
    serve.add_argument("--missing-image", action="append", default=[], metavar="IMAGE",
                       help="an image whose pull fails (ErrImagePull); repeatable")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    fake = FakeKubernetes(host=args.host, port=args.port, token=args.token,
                          image_root=(args.image_root or Path.cwd()).resolve(),
                          missing_images=args.missing_image, tls=args.tls)

    def ready() -> None:
        fake.write_kubeconfig(args.kubeconfig, args.namespace)
        print(f"fake Kubernetes API listening on {fake.url}; kubeconfig: {args.kubeconfig}",
              flush=True)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, fake.request_stop)
        await fake.serve_until_stopped(ready)

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
