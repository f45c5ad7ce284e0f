"""``sparkwing runner``: claim queued triggers and node attempts from a controller and run them here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command("runner")
@click.option("--controller", "controller_url", required=True, metavar="URL",
              help="The controller's base URL, e.g. http://ci.internal:4344.")
@click.option("--token-env", default="SPARKWING_TOKEN", show_default=True, metavar="VAR",
              help="Environment variable holding the runner's API token (scope: runner).")
@click.option("--label", "labels", multiple=True, metavar="LABEL",
              help="A label of this runner, e.g. os=linux (repeatable): it claims only node "
                   "attempts whose needed labels these satisfy.")
@click.option("--max-jobs", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="N", help="Triggers and node attempts run at once.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR",
              help="Where code, run directories and the runs' home live "
                   "[default: $SPARKWING_HOME/runner].")
@click.option("--poll", "poll_s", type=click.FloatRange(min=0.05, max=60.0), default=0.5,
              show_default=True, metavar="SECONDS",
              help="Wait between claim attempts while the queue is empty.")
@click.option("--name", default="", metavar="NAME",
              help="This runner's name in claims [default: the host name].")
@click.option("--grace", "grace_s", type=click.FloatRange(min=0.0), default=30.0,
              show_default=True, metavar="SECONDS",
              help="On SIGTERM/Ctrl-C, how long running work may go on before it is stopped.")
@click.option("--once", is_flag=True,
              help="Exit after the first claimed trigger or node attempt is finished.")
@click.option("--executor", "executor", default="", metavar="NAME",
              help="Executor of the runs' jobs, e.g. k8s (written into the runs' profile as "
                   "executor: {type: NAME, ...}) [default: local].")
@click.option("--executor-settings", "executor_settings",
              type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="YAML mapping of the executor's settings (for k8s: image, namespace, "
                   "kubeconfig, context, ...); use absolute paths in it.")
@click.option("--executor-setting", "executor_pairs", multiple=True, metavar="KEY=VALUE",
              help="One executor setting, e.g. namespace=ci (repeatable; values read as YAML "
                   "scalars; applied after --executor-settings).")
def runner_cmd(controller_url: str, token_env: str, labels: tuple[str, ...], max_jobs: int,
               work_dir: Path | None, poll_s: float, name: str, grace_s: float,
               once: bool, executor: str, executor_settings: Path | None,
               executor_pairs: tuple[str, ...]) -> None:
    """Run queued pipeline triggers and node attempts from a controller on this machine.

    While fewer than --max-jobs run, claims the oldest node attempt its
    --label values satisfy (jobs of runs using the queue executor, each run
    as `sparkwing node exec`), else the oldest pending trigger;
    fetches the code (git bundles from the controller), and
    runs a trigger in a child process (`sparkwing triggers run --claimed-by ...`)
    whose state and logs go to the controller. The claim is kept alive by
    heartbeats; a lost claim kills the run, a cancelled run is stopped.
    An unreachable controller is retried with back-off. SIGTERM or Ctrl-C
    stops claiming and lets running work finish for --grace seconds.

    With --executor the runs' jobs go to that executor (e.g. k8s: one
    Kubernetes Job per attempt); it is checked, and built once, before
    anything is claimed.
    """
    from sparkwing.errors import UsageError
    from sparkwing.paths import sparkwing_home
    from sparkwing.proglog import configure
    from sparkwing_server.runner.executorblock import check_executor, executor_block
    from sparkwing_server.runner.loop import Runner
    from sparkwing_server.runner.options import RunnerOptions
    from sparkwing_server.runner.workspace import CHILD_PROFILE

    token = os.environ.get(token_env, "").strip()
    if not token:
        raise UsageError(f"no runner token: set ${token_env} to a controller token with scope "
                         "runner (sparkwing controller token create --kind runner --scope runner)")
    try:
        from sparkwing.queueclient import QueueClient

        QueueClient(controller_url, token)
    except ValueError as exc:
        raise UsageError(f"--controller: {exc}") from None
    root = (work_dir or sparkwing_home() / "runner").absolute()
    block = executor_block(executor, executor_settings, executor_pairs)
    if block is not None:
        check_executor(block, root / "home", CHILD_PROFILE,
                       controller={"url": controller_url.rstrip("/"), "token_env": token_env})
    configure(server=True)
    options = RunnerOptions(
        controller_url=controller_url.rstrip("/"), token=token, token_env=token_env,
        labels=tuple(labels), max_jobs=max_jobs,
        work_dir=root, poll_s=poll_s, name=name, once=once, grace_s=grace_s, executor=block,
    )
    runner = Runner(options)
    runner.install_signals()
    code = runner.serve()
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
