"""Server memory under unauthenticated 100 MB request bodies.

Starts `prefstudio serve` (from --checkout, default this one) over the sample preferences,
then sends POST /api/v1/labels without credentials, a JSON body of --mb MiB declared in
Content-Length: once, then --concurrent at once. Before each phase the server's peak resident size is reset
(Linux: /proc/PID/clear_refs), so its high-water mark afterwards is the phase's peak. The
baseline is the body itself: growth_per_body_byte is the peak growth divided by the bytes one
request sent (0 when bodies are never read, about 1 or more when each is held in memory).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.server_helpers import free_port

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


def wait_until_serving(server: subprocess.Popen, url: str) -> None:
    """Return once `url`/api/v1/health answers; raise if the server exits or takes 90 s."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError("server did not start within 90 s")


def rss_mb(pid: int, field: str) -> float:
    """A resident size of the process from /proc/PID/status, in MiB: `VmRSS` (now) or
    `VmHWM` (the peak since the last reset)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/PID/status (Linux only)")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def send_unauthenticated(port: int, megabytes: int, statuses: list[str]) -> None:
    """POST a `megabytes` MiB JSON body without credentials; record the status line (or why
    none came)."""
    size = megabytes * MIB
    opening, closing = b'{"pair_id": "', b'"}'
    head = (
        "POST /api/v1/labels HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode()
    chunk = b"x" * MIB
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        try:
            sock.sendall(head + opening)
            left = size - len(opening) - len(closing)
            while left > 0:
                sock.sendall(chunk[:left])
                left -= min(left, len(chunk))
            sock.sendall(closing)
        except OSError:
            pass  # the server answered and closed before the body was all sent
        reply = b""
        try:
            while b"\r\n" not in reply and (data := sock.recv(4096)):
                reply += data
        except OSError as error:
            reply = f"no reply ({error})".encode()
    statuses.append(reply.split(b"\r\n", 1)[0].decode(errors="replace"))


def phase(pid: int, port: int, megabytes: int, clients: int) -> dict:
    """Peak RSS growth while `clients` send their bodies at once."""
    before = rss_mb(pid, "VmRSS")
    reset_peak(pid)
    statuses: list[str] = []
    threads = [
        threading.Thread(target=send_unauthenticated, args=(port, megabytes, statuses))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = rss_mb(pid, "VmHWM")
    return {
        "clients": clients,
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - before, 1),
        "statuses": sorted(set(statuses)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of each body, MiB")
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument("--checkout", type=Path, default=REPO, help="prefstudio source to serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "store.duckdb"
        sample = str(REPO / "data" / "preferences.jsonl")
        command = [sys.executable, "-m", "app.cli", "import", sample, "--db", str(db_path)]
        subprocess.run(command, cwd=args.checkout, check=True, capture_output=True)
        port = free_port()
        with (Path(folder) / "server.log").open("w") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "serve",
                    "--db",
                    str(db_path),
                    "--port",
                    f"{port}",
                ],
                cwd=args.checkout,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until_serving(server, f"http://127.0.0.1:{port}")
                one = phase(server.pid, port, args.mb, 1)
                many = phase(server.pid, port, args.mb, args.concurrent)
            finally:
                server.terminate()
                server.wait(timeout=30)
    body_mb = args.mb
    print(
        json.dumps(
            {
                "bench": "hostile_body",
                "checkout": str(args.checkout),
                "body_mb": body_mb,
                "one": one,
                "concurrent": many,
                "growth_per_body_byte": round(one["growth_mb"] / body_mb, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
