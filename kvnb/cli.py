"""The ``kvnb`` command.

- ``kvnb lab``        start the bundled nats-server and JupyterLab on the learner's own copies of the notebooks
                      (my-notebooks/, no solutions; ``--solutions`` opens notebooks/); NATS_URL points kernels at it
- ``kvnb server``     run the bundled nats-server in the foreground; Ctrl-C stops it cleanly
- ``kvnb cluster``    run a local N-node cluster in the foreground (``kvnb.start_cluster``)
- ``kvnb classroom``  one server, an account per participant, a shared bucket; prints the join sheet
- ``kvnb hub``        the classroom server and a JupyterHub in front of it: every participant logs in on a web page
                      and gets a JupyterLab already logged in to their own NATS account (``kvnb.hub``)
- ``kvnb doctor``     check the binary, versions, ports, the widget front ends and NATS_URL; each problem with its fix
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from . import _process
from .deployments import external_url
from .learner import fill_workspace
from .server import launch

__all__ = ["main"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_DEFAULT_SHEET = Path.home() / ".kvnb" / "classroom-join-sheet.txt"
_DEFAULT_HUB_SHEET = Path.home() / ".kvnb" / "hub-join-sheet.txt"


WORKSPACE = "my-notebooks"  # where `kvnb lab` puts the learner copies a learner works in


def _notebook_dir(given: str | None, *, solutions: bool = False) -> Path:
    """The folder JupyterLab opens: the given one; the solved notebooks; or the learner's workspace.

    By default a learner gets their own copies without solutions, in ``./my-notebooks`` (filled from
    ``./learner``; an edited copy is never overwritten). The solved notebooks are one flag away.
    """
    if given:
        return Path(given)
    cwd = Path.cwd()
    if solutions:
        return cwd / "notebooks" if (cwd / "notebooks").is_dir() else cwd
    learner_dir = cwd / "learner"
    if not learner_dir.is_dir():
        here = cwd / "notebooks"
        return here if here.is_dir() else cwd
    workspace = cwd / WORKSPACE
    for note in fill_workspace(learner_dir, workspace):
        print(f"kvnb: {note}", flush=True)
    course_map = cwd / "notebooks" / "README.md"
    if course_map.is_file() and not (workspace / "README.md").exists():
        shutil.copyfile(course_map, workspace / "README.md")
    print(f"kvnb: your notebooks (no solutions; your edits are kept) are in {WORKSPACE}/. "
          "The solved ones: `make solutions` (kvnb lab --solutions).", flush=True)
    return workspace


def cmd_server(args: argparse.Namespace) -> int:
    server = launch(store_dir=args.store_dir, memory=args.memory, port=args.port)
    print(f"nats-server running at {server.url} (pid {server.pid}, store {server.store_dir})")
    print(f"  export NATS_URL={server.url}")
    print("Ctrl-C stops it.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not server.is_running:
                print("nats-server exited; its log:", server.log_path, file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print("nats-server stopped.")
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (``docker stop``, a test's terminate) takes the same clean path as Ctrl-C."""
    def raise_interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


def cmd_lab(args: argparse.Namespace) -> int:
    external = external_url()
    server = None
    env = dict(os.environ)
    if args.ip not in _LOOPBACK:
        print(f"kvnb: warning: JupyterLab will listen on {args.ip}, reachable from other machines; "
              "keep its token private (inside a container this is expected).", file=sys.stderr)
    if external:
        print(f"kvnb: using the NATS deployment at {external} (NATS_URL / NATS_CONTEXT).", flush=True)
    else:
        print("kvnb: starting the bundled nats-server ...", flush=True)
        server = launch(store_dir=args.store_dir)
        env["NATS_URL"] = server.url
        print(f"kvnb: bundled nats-server at {server.url} (store {server.store_dir}); "
              "notebooks connect to it through NATS_URL.", flush=True)
    extra = list(args.jupyter_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    root_dir = _notebook_dir(args.notebooks, solutions=args.solutions)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root_dir}",
            f"--ServerApp.ip={args.ip}", *([f"--ServerApp.port={args.port}"] if args.port else []),
            *(["--no-browser"] if args.no_browser else []),
            # JupyterLab refuses to run as root unless told; containers and CI machines often are root.
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []), *extra]
    print("kvnb: starting JupyterLab (its URL with the login token follows) ...", flush=True)
    _stop_on_sigterm()
    # Same process group (Ctrl-C reaches it), and it dies with us even if we are SIGKILLed.
    tie = _process._die_with_parent if sys.platform.startswith("linux") else None
    lab = subprocess.Popen(argv, env=env, preexec_fn=tie)
    try:
        return lab.wait()
    except KeyboardInterrupt:
        # SIGTERM is JupyterLab's clean shutdown (SIGINT asks for a confirmation, and a second SIGINT
        # racing its handler swap kills it by signal). Stopping on request is success.
        lab.terminate()
        try:
            code = lab.wait(timeout=15)
        except subprocess.TimeoutExpired:
            lab.kill()
            code = lab.wait()
        return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait()
        if server is not None:
            server.stop()
            print("kvnb: bundled nats-server stopped.")


def _wait_forever(alive: Callable[[], bool], what: str) -> int:
    """Block until Ctrl-C / SIGTERM (0) or until ``alive()`` turns false (1)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not alive():
                print(f"kvnb: {what} exited unexpectedly.", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from .cluster import start_cluster

    cluster = start_cluster(args.nodes, store_dir=args.store_dir)
    try:
        for node in cluster:
            print(f"  {node.name}: {node.url}  (log {node.log_path})")
        print(f"  export NATS_URL={cluster.url}")
        print("Ctrl-C stops it.", flush=True)
        return _wait_forever(lambda: all(n.is_running for n in cluster), "a cluster node")
    finally:
        cluster.stop()
        print("kvnb: cluster stopped.")


def cmd_classroom(args: argparse.Namespace) -> int:
    from .classroom import start_classroom

    if args.host not in _LOOPBACK:
        print(f"kvnb: WARNING: --host {args.host} makes the classroom server reachable from other machines on your "
              "network(s). Only do this in a room you trust; everyone needs a seed from the join sheet to get in.",
              file=sys.stderr, flush=True)
    # SIGTERM and Ctrl-C take one path, from the first moment: nothing the classroom wrote stays behind.
    _stop_on_sigterm()
    room = None
    try:
        room = start_classroom(args.participants, host=args.host, port=args.port, store_dir=args.store_dir)
        sheet = room.write_sheet(Path(args.sheet) if args.sheet else _DEFAULT_SHEET)
        # The seeds never go to stdout (terminals are shared, scrolled back, recorded): only where they are.
        print(f"kvnb: classroom server at {room.url} for {len(room.participants)} participants "
              f"(files in {room.work_dir}).")
        print(f"kvnb: join sheet written to {sheet} (readable by you only), seeds in {sheet}.seeds/; "
              "all are removed when the classroom stops.")
        print("kvnb: instructor: export " + " ".join(f"{k}={v}" for k, v in room.env(
            "instructor", f"{sheet}.seeds/instructor.nk").items()))
        print("Ctrl-C stops the server.", flush=True)
        return _wait_forever(lambda: room.is_running, "the classroom server")
    except KeyboardInterrupt:
        return 0
    finally:
        if room is not None:
            room.stop()
            print("kvnb: classroom server stopped; its files are removed.", flush=True)


def cmd_hub(args: argparse.Namespace) -> int:
    from .hub import export_deployment, start_hub

    if args.export:
        if not args.nats_url:
            print("kvnb: --export needs --nats-url: where the hub's users reach NATS, "
                  "e.g. --nats-url nats://nats.kvnb.svc:4222", file=sys.stderr)
            return 2
        files = export_deployment(args.participants, args.export, nats_url=args.nats_url)
        print(f"kvnb: wrote {', '.join(str(f) for f in files.values())} (mode 0600). "
              "Next: deploy/jupyterhub/README.md.")
        return 0

    if args.host not in _LOOPBACK:
        print(f"kvnb: WARNING: --host {args.host} makes the hub's login page reachable from other machines. "
              "One-machine mode runs every participant as your own OS user: only in a room you trust.",
              file=sys.stderr, flush=True)
    _stop_on_sigterm()  # SIGTERM and Ctrl-C take one path: hub, proxy, servers, classroom, files
    hub = None
    try:
        print(f"kvnb: starting the classroom server and JupyterHub for {args.participants} participants ...",
              flush=True)
        hub = start_hub(args.participants, port=args.port, host=args.host,
                        sheet=Path(args.sheet) if args.sheet else _DEFAULT_HUB_SHEET,
                        learner_dir=args.learner, instructor_notebook=args.instructor_notebook, homes=args.homes)
        print(f"kvnb: JupyterHub at {hub.url} (log {hub.log_path}); classroom server at {hub.room.url}.")
        print(f"kvnb: join sheet (user names and web passwords, readable by you only) written to {hub.sheet_path}; "
              "it is removed when the hub stops.")
        print("Ctrl-C stops the hub, every participant's server and the classroom server.", flush=True)
        return _wait_forever(lambda: hub is not None and hub.is_running, "the hub or the classroom server")
    except KeyboardInterrupt:
        return 0
    finally:
        if hub is not None:
            print("kvnb: stopping the hub, the participants' servers and the classroom server ...", flush=True)
            hub.stop()
            print("kvnb: hub stopped; its files are removed.", flush=True)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_checks

    return run_checks(timeout=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvnb", description="Learn NATS KV by doing, in JupyterLab.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lab", help="bundled nats-server + JupyterLab on your copies of the notebooks")
    p.add_argument("--notebooks", help="folder to open (default: ./my-notebooks, filled with the learner copies)")
    p.add_argument("--solutions", action="store_true", help="open the solved notebooks (./notebooks) instead")
    p.add_argument("--store-dir", help="keep the server's data here (default: temporary)")
    p.add_argument("--ip", default="127.0.0.1", help="JupyterLab's address (default 127.0.0.1; 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, help="JupyterLab's port (default: 8888 or the next free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed to jupyter lab")
    p.set_defaults(func=cmd_lab)
    p = sub.add_parser("server", help="run the bundled nats-server in the foreground")
    p.add_argument("--store-dir")
    p.add_argument("--memory", action="store_true", help="buckets default to memory storage")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_server)
    p = sub.add_parser("cluster", help="run a local nats-server cluster in the foreground")
    p.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    p.add_argument("--store-dir", help="parent folder of the nodes' stores (default: temporary)")
    p.set_defaults(func=cmd_cluster)
    p = sub.add_parser("classroom", help="one server for a class: an account per participant, a shared bucket")
    p.add_argument("--participants", "-n", type=int, required=True, help="how many participants (p1..pN)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the LAN)")
    p.add_argument("--port", type=int, help="client port (default: a free one)")
    p.add_argument("--store-dir", help="keep the server's data here (default: temporary)")
    p.add_argument("--sheet", help=f"write the join sheet (and its seeds) here, mode 0600 (default: {_DEFAULT_SHEET})")
    p.set_defaults(func=cmd_classroom)
    p = sub.add_parser("hub", help="a workshop: the classroom server and a JupyterHub that provisions everyone")
    p.add_argument("--participants", "-n", type=int, required=True, help="how many participants (p1..pN)")
    p.add_argument("--port", type=int, default=8000, help="the hub's port (default 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the hub's address (default 127.0.0.1; 0.0.0.0 lets the room's machines in)")
    p.add_argument("--sheet", help=f"write the join sheet (web logins) here, mode 0600 (default: {_DEFAULT_HUB_SHEET})")
    p.add_argument("--learner", help="the learner notebooks each participant gets (default: ./learner)")
    p.add_argument("--instructor-notebook", help="where the instructor lands (default: ./notebooks/instructor.ipynb)")
    p.add_argument("--homes", metavar="DIR",
                   help="keep every user's home (their notebooks) here across runs "
                        "(default: temporary, removed at stop)")
    p.add_argument("--export", metavar="DIR",
                   help="start nothing: write the NATS accounts, the hub's state and the join sheet for a hub "
                        "elsewhere (TLJH, Zero to JupyterHub) into DIR")
    p.add_argument("--nats-url", help="with --export: where users' servers reach NATS")
    p.set_defaults(func=cmd_hub)
    p = sub.add_parser("doctor", help="check the installation and the NATS connection; print each problem's fix")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for NATS_URL's server (default 3)")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Every long-running command promises "Ctrl-C stops it". A process started in the background of a
    # non-interactive shell inherits SIGINT *ignored*, and Python then leaves it ignored: take it back.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
