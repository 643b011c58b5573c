"""The capacity model's verdict on issue 11's two target jobs, as the markdown table in docs/capacity.md.

Targets: every Lambda below 50 % of its time and /tmp budgets (slowmo.foresight.capacity.TARGET_FRACTION) for
  - a 60-minute 1080p30 input at factor 8 with the comparison;
  - a 10-minute 4K30 (3840x2160) input at factor 4 (no comparison).
The rates behind it are slowmo.foresight.capacity.MEASURED_RATES (benchmarks/bench_cloud_steps.py --json).

    .venv/bin/python benchmarks/capacity_targets.py
"""

from __future__ import annotations

import sys

from slowmo.foresight import capacity
from slowmo.foresight.capacity import TARGET_FRACTION, Job, Source, Stack, estimate

TARGETS = [
    ("60 min 1080p30, factor 8, comparison", Source.of_length(1920, 1080, 30, 3600), Job(factor=8, compare=True)),
    ("10 min 2160p30, factor 4", Source.of_length(3840, 2160, 30, 600), Job(factor=4, compare=False)),
]


def share(step, name: str) -> str:
    limit = next((lim for lim in step.limits if lim.name == name), None)
    if limit is None:
        return "-"
    mark = "" if limit.fits(TARGET_FRACTION) else (" **over 50 %**" if limit.fits() else " **over the limit**")
    return f"{limit.share:.0%}{mark}"


def main() -> int:
    stack = Stack()
    for title, source, job in TARGETS:
        report = estimate(source, job, stack)
        print(f"### {title}\n")
        print(f"{report.output_frames:,} output frames, {report.output_bytes / capacity.GB:.1f} GB of output; "
              f"{report.gpu_seconds / 3600:.1f} GPU-hours on {stack.instance_type}; wall clock "
              f"{report.wall_clock_s / 3600:.1f} h on {stack.max_instances} instances; "
              f"about ${report.cost_usd:,.0f} at list prices.\n")
        print("| step | invocations | largest: duration | /tmp | memory | share of time | share of /tmp |")
        print("|---|---|---|---|---|---|---|")
        for step in report.steps:
            endpoint = step.name == "Interpolate"
            print(f"| {step.name} | {step.invocations:,} | {capacity._duration(step.duration_s)} | "
                  f"{'-' if endpoint else capacity._bytes(step.peak_tmp_bytes)} | "
                  f"{'-' if endpoint else capacity._bytes(step.peak_memory_bytes)} | "
                  f"{share(step, 'endpoint time' if endpoint else 'time')} | {share(step, '/tmp')} |")
        verdict = report.refusal()
        print(f"\nAdmission: {'admitted' if verdict is None else 'refused: ' + verdict}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
