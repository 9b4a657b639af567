"""The ``kvnb`` command.

- ``kvnb lab``     start the bundled nats-server and JupyterLab on notebooks/ (NATS_URL points kernels at it)
- ``kvnb server``  run the bundled nats-server in the foreground; Ctrl-C stops it cleanly
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .server import launch

__all__ = ["main"]


def _notebook_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    here = Path.cwd() / "notebooks"
    return here if here.is_dir() else Path.cwd()


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


def cmd_lab(args: argparse.Namespace) -> int:
    external = os.environ.get("NATS_URL")
    server = None
    env = dict(os.environ)
    if external:
        print(f"Using the NATS deployment at {external} (NATS_URL).")
    else:
        server = launch(store_dir=args.store_dir)
        env["NATS_URL"] = server.url
        print(f"Bundled nats-server at {server.url} (store {server.store_dir}); notebooks connect to it through NATS_URL.")
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={_notebook_dir(args.notebooks)}",
            "--ServerApp.ip=127.0.0.1", *args.jupyter_args]
    lab = subprocess.Popen(argv, env=env)
    try:
        return lab.wait()
    except KeyboardInterrupt:
        lab.send_signal(signal.SIGINT)
        try:
            return lab.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab.terminate()
            return lab.wait()
    finally:
        if server is not None:
            server.stop()
            print("Bundled nats-server stopped.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvnb", description="Learn NATS KV by doing, in JupyterLab.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lab", help="bundled nats-server + JupyterLab on notebooks/")
    p.add_argument("--notebooks", help="folder to open (default: ./notebooks)")
    p.add_argument("--store-dir", help="keep the server's data here (default: temporary)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed to jupyter lab")
    p.set_defaults(func=cmd_lab)
    p = sub.add_parser("server", help="run the bundled nats-server in the foreground")
    p.add_argument("--store-dir")
    p.add_argument("--memory", action="store_true", help="buckets default to memory storage")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_server)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
