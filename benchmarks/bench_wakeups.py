"""Where the client's CPU per op goes: the work of an op, and waking up for each response.

bench_throughput.py measures the prepared client at ~120-180 µs of CPU per op against DynamoDB Local, where
wrk spends ~50 µs per request. This benchmark splits that number. The same client (the real runner,
registration workload and history writer, as bench_throughput's harness rows) races against a canned
loopback server in a child process: it answers every PutItem as DynamoDB Local does in a registration race
(the first request per key ``200 {}``, the others ConditionalCheckFailed with the item), one request at a
time after a fixed service time. The client and the server run on separate cores when there are two.

* service time 0: the answers of a race arrive together, the client's event loop rarely sleeps — this is
  the client's own work per op;
* service time 200 or 400 µs (DynamoDB Local spent 260-750 µs of CPU per request in bench_throughput's
  tables here): the answers arrive one at a time, the loop sleeps in ``epoll_wait`` and wakes for each.

wrk runs against the same server at the same concurrency for comparison (bench_throughput's ``run_wrk``).
Printed per row: ops/s, CPU per op (user and system), and sleeps (voluntary context switches) per op; medians
of ``--reps`` interleaved runs.

    python benchmarks/bench_wakeups.py            # about 2 minutes
    python benchmarks/bench_wakeups.py --small    # a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_throughput import ensure_wrk, run_wrk, split_cores
from harness.backends.endpoint import Endpoint
from harness.backends.process import free_port
from harness.clients.choose import make_client
from harness.clients.http1 import content_length, parse_head
from harness.engine.runner import Pace, StepRunner, event_loop_factory
from harness.history.events import HistoryWriter
from workloads.base import WorkloadConfig
from workloads.registration import Registration

OK_BODY = b"{}"
CCF_BODY = (b'{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
            b'"message":"The conditional request failed","Item":{"Username":{"S":"user-r0-0001"},'
            b'"Email":{"S":"w1.user-r0-0001@example.com"},"RequestId":{"S":"bench/user-r0-0001/w1"}}}')
KEY = re.compile(rb'"Username":\{"S":"([^"]*)"')


def _response(status: int, body: bytes) -> bytes:
    reason = b"OK" if status == 200 else b"Bad Request"
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: canned\r\n"
            b"Content-Length: %d\r\n\r\n" % (status, reason, len(body))) + body


class _Canned(asyncio.Protocol):
    """One connection of the canned server: frames requests by Content-Length and answers each."""

    seen: ClassVar[set[bytes]] = set()  # keys registered so far (all connections)
    queue: ClassVar[SimpleQueue[tuple[asyncio.Transport, bytes]] | None] = None  # set when there is a service time

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            length = content_length(parse_head(self.buf[:end + 4]).headers) or 0
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4:end + 4 + length], self.buf[end + 4 + length:]
            match = KEY.search(body)
            key = match.group(1) if match else b""
            answer = _response(400, CCF_BODY) if key in self.seen else _response(200, OK_BODY)
            self.seen.add(key)
            if self.queue is None:
                self.transport.write(answer)
            else:
                self.queue.put((self.transport, answer))


def _serve(port: int, service_s: float) -> None:
    """The canned server's process: one asyncio loop, and one thread that serves requests one at a time."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        if service_s > 0:
            queue: SimpleQueue[tuple[asyncio.Transport, bytes]] = SimpleQueue()
            _Canned.queue = queue

            def serve_one_at_a_time() -> None:
                while True:
                    transport, answer = queue.get()
                    time.sleep(service_s)
                    loop.call_soon_threadsafe(_write, transport, answer)

            threading.Thread(target=serve_one_at_a_time, daemon=True).start()
        server = await loop.create_server(_Canned, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        await server.serve_forever()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())


def _write(transport: asyncio.Transport, answer: bytes) -> None:
    if not transport.is_closing():
        transport.write(answer)


@dataclass
class Row:
    ops_s: float
    user_us: float
    sys_us: float
    sleeps: float  # voluntary context switches per op

    @property
    def cpu_us(self) -> float:
        return self.user_us + self.sys_us


async def _harness(endpoint: Endpoint, workers: int, seconds: float, tmp: Path) -> Row:
    run_id = f"wake-{workers}-{time.monotonic_ns() % 10**9}"
    config = WorkloadConfig(workers=workers, keys=max(10, int(seconds * 50_000 / workers)), rounds=1, seed=1,
                            run_id=run_id)
    workload = Registration(config, f"ddbstress-{run_id}-registration")
    async with make_client("prepared", endpoint, pool=workers, timeout_s=10.0) as client:
        with HistoryWriter(tmp / f"{run_id}.jsonl") as history:
            runner = StepRunner(client, workload, history, workers, Pace(deadline=time.monotonic() + seconds))
            before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            steps = await runner.run()
            wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    ops = max(steps * workers, 1)
    return Row(ops / wall, (after.ru_utime - before.ru_utime) / ops * 1e6,
               (after.ru_stime - before.ru_stime) / ops * 1e6, (after.ru_nvcsw - before.ru_nvcsw) / ops)


def _wrk(url: str, workers: int, seconds: float, cores: set[int]) -> Row:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_wrk(ensure_wrk(), url, "canned", "race", workers, seconds, workers, 1, cores)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = max(result.requests, 1)
    return Row(result.rps, (after.ru_utime - before.ru_utime) / requests * 1e6,
               (after.ru_stime - before.ru_stime) / requests * 1e6, (after.ru_nvcsw - before.ru_nvcsw) / requests)


def measure(services_us: list[int], levels: list[int], seconds: float,
            reps: int) -> dict[tuple[int, str, int], list[Row]]:
    """Every (service time, client, workers) row ``reps`` times, interleaved."""
    original = os.sched_getaffinity(0)
    server_cores, client_cores = split_cores() or (original, original)  # the same split as bench_throughput's (f)
    endpoint_of: dict[int, Endpoint] = {}
    servers: list[subprocess.Popen[str]] = []
    results: dict[tuple[int, str, int], list[Row]] = {}
    try:
        for service in services_us:
            port = free_port()
            server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(service)], text=True,
                                      stdout=subprocess.PIPE, preexec_fn=lambda: os.sched_setaffinity(0, server_cores))
            servers.append(server)
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            endpoint_of[service] = Endpoint("canned", f"http://127.0.0.1:{port}", "us-east-1", "canned",
                                            {"aws_access_key_id": "ddbstress", "aws_secret_access_key": "canned"})
        os.sched_setaffinity(0, client_cores)
        with tempfile.TemporaryDirectory(prefix="ddbstress-wake-") as tmp, \
                asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_harness(endpoint_of[services_us[0]], 16, min(seconds, 1.0), Path(tmp)))  # warm-up
            for _ in range(reps):
                for service in services_us:
                    for workers in levels:
                        endpoint = endpoint_of[service]
                        results.setdefault((service, "harness", workers), []).append(
                            runner.run(_harness(endpoint, workers, seconds, Path(tmp))))
                        results.setdefault((service, "wrk", workers), []).append(
                            _wrk(endpoint.url or "", workers, seconds, client_cores))
    finally:
        os.sched_setaffinity(0, original)
        for server in servers:
            server.kill()
            server.wait()
    return results


def render(results: dict[tuple[int, str, int], list[Row]], cores: int) -> str:
    lines = [f"client and canned server on {'separate cores' if cores >= 2 else 'one core'}; medians of "
             f"{len(next(iter(results.values())))} runs",
             f"  {'service us':>10} {'client':8} {'workers':>7} {'ops/s':>8} {'cpu us/op':>9} {'user':>6} "
             f"{'sys':>6} {'sleeps/op':>9}"]
    for (service, kind, workers), rows in sorted(results.items()):
        def med(attr: str, rows: list[Row] = rows) -> float:
            return statistics.median(getattr(r, attr) for r in rows)
        lines.append(f"  {service:>10} {kind:8} {workers:>7} {med('ops_s'):>8.0f} {med('cpu_us'):>9.1f} "
                     f"{med('user_us'):>6.1f} {med('sys_us'):>6.1f} {med('sleeps'):>9.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few seconds")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--serve", nargs=2, type=int, metavar=("PORT", "SERVICE_US"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve[0], args.serve[1] / 1e6)
        return 0
    results = measure([0, 300], [16], 1.0, 1) if args.small else measure([0, 200, 400], [16, 64], 3.0, args.reps)
    print(render(results, len(os.sched_getaffinity(0))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
