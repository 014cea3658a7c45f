"""What tracing costs: DAG chain of 200 and fan-out of 1000, tracing off and on.

"On" means an OpenTelemetry SDK provider with an in-memory exporter behind a
simple span processor (every span exported as it ends). Off and on alternate
run by run, in one process, so they see the same machine. Compare "off"
against an older checkout with ``benchmarks/interleave.py``.

Usage: python benchmarks/bench_tracing.py [--repeats 7] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench_dag import define_chain, define_fan_out
from common import measure_interleaved, report
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import taskloom as cloaca
from taskloom.core import trace_hooks
from taskloom.telemetry.tracing import OpenTelemetryTracing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracer = OpenTelemetryTracing()
    define_chain("chain200", 200)
    define_fan_out("fan1000", 1000)
    cases: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with cloaca.DefaultRunner(url) as runner:

            def run(name: str, traced: bool) -> None:
                trace_hooks.install(tracer if traced else None)
                exporter.clear()
                result = runner.execute(name)
                assert result.status == "Completed", result.error_message
                assert bool(exporter.get_finished_spans()) == traced

            for name, label in (("chain200", "chain of 200 tasks"), ("fan1000", "fan-out 1000")):
                both = measure_interleaved(
                    {"off": lambda n=name: run(n, False), "on": lambda n=name: run(n, True)},
                    args.repeats,
                )
                cases[f"{label}, tracing off"] = both["off"]
                cases[f"{label}, tracing on (in-memory exporter)"] = both["on"] | {
                    "ratio_on_off": both["on"]["median_s"] / both["off"]["median_s"]
                }
    report("tracing", cases, args.out)


if __name__ == "__main__":
    main()
