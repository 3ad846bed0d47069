"""The demo app (app.py of a source checkout) as a child process on a free local port: started, waited for until it
answers HTTP 200, stopped. The browser test and scripts/time_demo_browser.py drive the real app through it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, seconds: float, proc: subprocess.Popen, log_path: Path) -> None:
    """Return once `url` answers 200; RuntimeError (with the log's tail) when the process exits first or
    `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode} before answering:\n"
                               f"{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s:\n{log_path.read_text()[-3000:]}")


@contextmanager
def running_app(run: Path, log_path: Path, seconds: float, offline: bool = True) -> Iterator[str]:
    """`python app.py --run RUN` on a free port, its output in `log_path` (a file, not a pipe: a chatty server
    must never block on a full pipe); yields the URL once it answers, stops the process on exit."""
    if not APP.exists():
        raise FileNotFoundError(f"{APP} not found: the app runs from a source checkout")
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    if offline:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(APP), "--run", str(run), "--port", str(port)],
                                cwd=APP.parent, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, seconds, proc, log_path)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
