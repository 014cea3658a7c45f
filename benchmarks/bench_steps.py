"""Step-workflow (grctl style) benchmarks on the durable SQLite journal (no-op tasks).

Usage: python benchmarks/bench_steps.py [--repeats 5] [--out FILE.json]

Cases: 1000 sequential tasks in one step, 1000 tasks gathered in one step,
start + complete an empty workflow, and recovery after SIGKILL (from the
restarted process creating its client to the resumed run executing again).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from common import measure, report

from taskloom import task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.steps import Client, Context, Directive, Workflow

N = 1000


@task
async def noop(i: int) -> int:
    return i


sequential = Workflow(workflow_type="BenchSequential")


@sequential.start()
async def run_sequential(ctx: Context) -> Directive:
    for i in range(N):
        await noop(i)
    return ctx.next.complete(N)


gathered = Workflow(workflow_type="BenchGathered")


@gathered.start()
async def run_gathered(ctx: Context) -> Directive:
    values = await asyncio.gather(*(noop(i) for i in range(N)))
    return ctx.next.complete(len(values))


empty = Workflow(workflow_type="BenchEmpty")


@empty.start()
async def run_empty(ctx: Context) -> Directive:
    return ctx.next.complete(None)


CRASH_APP = textwrap.dedent(
    """
    import asyncio, sys, time
    from taskloom import task
    from taskloom.steps import Client, Context, Directive, Workflow

    wf = Workflow(workflow_type="BenchRecover")

    @task
    async def first() -> int:
        return 1

    @task
    async def resumed_marker() -> float:
        return time.time()

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await first()
        if sys.argv[1] == "run":
            print("ready", flush=True)
            await asyncio.sleep(600)  # SIGKILLed here
        return ctx.next.complete(await resumed_marker())

    if sys.argv[1] == "run":
        Client(sys.argv[2]).start_workflow(wf, "recover-1")
        time.sleep(600)
    else:
        began = time.time()
        client = Client(sys.argv[2])  # the restart: recovery resumes the orphan
        resumed_at = client.get_handle("recover-1").result(timeout=30)
        print(resumed_at - began)
    """
)


def recovery_sample(workdir: Path, index: int) -> float:
    app = workdir / "recover_app.py"
    app.write_text(CRASH_APP)
    db = f"sqlite:///{workdir / f'recover{index}.db'}"
    child = subprocess.Popen(
        [sys.executable, str(app), "run", db], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    out = subprocess.run(
        [sys.executable, str(app), "resume", db],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ids = itertools.count()
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        client = Client(f"sqlite:///{Path(tmp) / 'bench.db'}")

        def run(wf: Workflow) -> None:
            client.run_workflow(wf, f"{wf.workflow_type}-{next(ids)}", timeout=60)

        cases["1000 sequential no-op tasks in one step"] = {
            **measure(lambda: run(sequential), args.repeats),
            "target_s": 0.3,
        }
        cases["1000 no-op tasks gathered in one step"] = {
            **measure(lambda: run(gathered), args.repeats),
            "target_s": 0.3,
        }
        cases["start + complete an empty workflow"] = {
            **measure(lambda: run(empty), max(args.repeats, 200), warmup=20),
            "target_s": 0.002,
        }
        shutdown_engines()
        samples = [recovery_sample(Path(tmp), i) for i in range(args.repeats)]
        cases["recovery after SIGKILL: restart to run resumed"] = {
            "median_s": statistics.median(samples),
            "min_s": min(samples),
            "max_s": max(samples),
            "repeats": len(samples),
            "target_s": 0.5,
        }
    report("steps", cases, args.out)


if __name__ == "__main__":
    main()
