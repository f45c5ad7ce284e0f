"""Pipeline "release": typed inputs in, typed outputs passed from job to job.

    validate ── notes ──┐
        └───────────────┴── package ── publish ── announce

* Inputs are a dataclass: ``--version`` is required, ``--channel`` is a
  choice, ``--publish`` a bool and ``--token`` a secret (shown as ``***``
  in every log, status and listing).
* Each job returns a JSON-able value; later jobs read it with
  ``job.output.get(ctx)`` after declaring ``.needs(job)``.
* ``publish`` and ``announce`` are skipped unless ``--publish`` is given.
  "Publishing" copies the package into ./registry/<channel>/, standing in
  for an upload.

Try:  sparkwing run release --help
      sparkwing run release --version 1.2.3
      sparkwing run release --version 1.3.0-rc.1 --channel beta --publish --token s3cr3t
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from typing import Any, Literal

import sparkwing as sw

SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?")


@dataclass
class Inputs:
    """Flags of `sparkwing run release`."""

    version: str = sw.arg(help="the version to release, e.g. 1.2.3 or 1.3.0-rc.1", short="v")
    channel: Literal["stable", "beta", "nightly"] = sw.arg(
        default="stable", help="release channel (stable takes no pre-release versions)")
    publish: bool = sw.arg(default=False, help="publish the package (default: build only)")
    token: str = sw.arg(default="", secret=True, help="registry token (needed with --publish)")


def plan(plan: sw.Plan, inputs: Inputs, run: sw.RunContext) -> None:
    """Register the jobs; the closures read inputs and upstream outputs when they run."""

    def validate(ctx: sw.Context) -> dict[str, Any]:
        m = SEMVER.fullmatch(inputs.version)
        if m is None:
            raise ValueError(f"--version {inputs.version!r} is not a semantic version (X.Y.Z)")
        pre = m.group(4) or ""
        if inputs.channel == "stable" and pre:
            raise ValueError(f"stable releases take no pre-release part (got -{pre}); "
                             "use --channel beta or nightly")
        ctx.info(f"releasing {inputs.version} on the {inputs.channel} channel")
        return {"version": inputs.version, "tag": f"v{inputs.version}", "prerelease": bool(pre)}

    def notes(ctx: sw.Context) -> dict[str, Any]:
        version = checked.output.get(ctx)["version"]
        text = ctx.path("CHANGELOG.md").read_text(encoding="utf-8")
        m = re.search(rf"^## {re.escape(version)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        if m is None:
            raise ValueError(f"CHANGELOG.md has no '## {version}' section")
        body = m.group(1).strip()
        ctx.path("dist").mkdir(exist_ok=True)
        ctx.path("dist", "RELEASE_NOTES.md").write_text(f"# {version}\n\n{body}\n")
        return {"path": "dist/RELEASE_NOTES.md", "entries": body.count("\n- ") + 1}

    def package(ctx: sw.Context) -> dict[str, Any]:
        meta = checked.output.get(ctx)
        notes_out = written.output.get(ctx)
        name = f"app-{meta['version']}.tar.gz"
        target = ctx.path("dist", name)
        with tarfile.open(target, "w:gz") as tar:
            tar.add(ctx.path("app"), arcname="app")
            tar.add(ctx.path(notes_out["path"]), arcname="RELEASE_NOTES.md")
            stamp = json.dumps({"version": meta["version"], "commit": run.git.sha}).encode()
            info = tarfile.TarInfo("VERSION.json")
            info.size = len(stamp)
            tar.addfile(info, io.BytesIO(stamp))
        data = target.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        ctx.summary(f"`{name}`: {len(data)} bytes, sha256 `{digest}`")
        return {"artifact": f"dist/{name}", "sha256": digest, "bytes": len(data)}

    def publish(ctx: sw.Context) -> dict[str, Any]:
        if not inputs.token:
            raise ValueError("--publish needs --token")
        pkg = packaged.output.get(ctx)
        ctx.info(f"authenticating to the registry with token {inputs.token}")  # logged as ***
        dest = ctx.path("registry", inputs.channel)
        dest.mkdir(parents=True, exist_ok=True)
        source = ctx.path(pkg["artifact"])
        shutil.copy2(source, dest / source.name)
        index = dest / "index.json"
        entries = json.loads(index.read_text()) if index.exists() else {}
        entries[inputs.version] = {"file": source.name, "sha256": pkg["sha256"]}
        index.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
        url = f"file://{dest / source.name}"
        ctx.annotate(f"published {source.name} to {inputs.channel}")
        return {"url": url, "channel": inputs.channel}

    def announce(ctx: sw.Context) -> None:
        tag = checked.output.get(ctx)["tag"]
        where = published.output.get(ctx)["url"]
        ctx.sh(f"echo 'released {tag}: {where}'")

    not_publishing = lambda ctx: not inputs.publish  # noqa: E731

    checked = plan.job("validate", validate)
    written = plan.job("notes", notes).needs(checked)
    packaged = plan.job("package", package).needs(checked, written)
    published = plan.job("publish", publish).needs(packaged).skip_if(not_publishing).retry(
        2, backoff="1s")
    plan.job("announce", announce).needs(published).skip_if(not_publishing)
