"""`make mutants`: mutation testing (mutmut) of the modules that hold slowmo's guards, each against its own
narrow tests. Not part of `make test` or CI: run it on the modules you changed.

    python tools/mutants.py                 # every module in GUARDED
    python tools/mutants.py scenes chunks   # just these

mutmut imports the code under test from a mutated copy of the project's source root, which it expects at the
top of the project (., src/ or source/). slowmo's source root is layers/slowmo_core, so the run happens in a
staging copy of the working tree (build/mutation/) with the package moved to the top. For each mutant mutmut
runs only the selected tests that reach the mutated function, in a forked child, stopping at the first
failure; the report lists the survivors, which docs/mutation-testing.md explains.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "mutation"  # one staging copy per module: build/mutation/<module>
PACKAGE = Path("layers/slowmo_core/slowmo")

# module (under slowmo/) -> (the narrow tests that hold its guards, the functions that are the guards). Only the
# guard functions are mutated by default (--whole-modules mutates everything): the whole twelve modules make
# about 3,700 mutants, which does not fit in 30 minutes on two cores. The slow state-machine runs stay out.
GUARDED: dict[str, tuple[list[str], list[str]]] = {
    "timeline/scenes": (["test_scenes.py", "test_synthesis.py"], ["is_repeat", "is_cut", "classify_pair"]),
    "synthesis/frames": (["test_synthesis.py"], ["fill_pair", "synthesize"]),
    "timeline/chunks": (["test_chunks.py"], ["plan_chunks", "assemble"]),
    "timeline/timing": (["test_timing.py"], ["slot_times", "output_frame_count", "source_position", "make_timeline"]),
    "timeline/plan": (["test_plan.py"], []),
    "local/pipeline": (["test_pipeline.py", "test_bad_input.py"], ["check_input", "_publish"]),
    "media/audio": (["test_audio_curve.py", "test_pipeline.py"], ["atempo_chain", "audio_filter"]),
    "timeline/ranges": (["test_ranges.py"], ["split_ranges", "seek_point", "clean_point", "time_indexed", "join_scans",
                                    "cut_groups"]),
    "cloud/media": (["test_cloud_media.py", "test_cloud_publish.py"], ["_has_object", "publish_all"]),
    "cloud/inference": (["test_cloud_inference.py", "test_cloud_core.py", "test_fn_resume.py",
                         "test_fn_invoke_endpoint.py"], ["finished_output", "resume_task"]),
    "cloud/jobs": (["test_cloud_core.py", "test_fn_finish_job.py", "test_fn_claim_job.py"],
                   ["failure_reason", "job_failure_reason", "failure_reason_line"]),
    "cloud/api": (["test_fn_api.py", "test_security_api.py"], ["parse_body", "_no_unknown_fields"]),
    "modelserver/handler": (["test_modelserver.py"], ["status_code", "error_result", "_checked"]),
}


def mutant_patterns(module: str, whole: bool) -> list[str]:
    """mutmut's mutant names for a module's guard functions: slowmo.cloud.media.x_publish_all__mutmut_7,
    slowmo.timeline.ranges.xǁScanǁfrom_dict__mutmut_3 (a method)."""
    dotted = "slowmo." + module.replace("/", ".")
    functions = GUARDED[module][1]
    if whole or not functions:
        return [f"{dotted}.x*"]
    return [f"{dotted}.x" + ("ǁ".join(["", *f.split(".")]) if "." in f else f"_{f}") + "__mutmut_*"
            for f in functions]


# what the tests read besides the package and tests/ (handlers, the model adapter, events, the template)
ALSO_COPY = ["functions/", "model/", "events/", "statemachine/", "template.yaml", "layers/", "mutmut_pytest9.py"]
# mutmut 3.7 is the newest mutmut that installs beside aws-sam-cli's click==8.1.8 pin, and it reads a test item's
# private `_nodeid`, which pytest 9 no longer has; this plugin, loaded only in the mutation run, gives it back.
PYTEST9_SHIM = """import _pytest.nodes

if not hasattr(_pytest.nodes.Node, "_nodeid"):
    _pytest.nodes.Node._nodeid = property(lambda self: self.nodeid)
"""


def stage(module: str, stage_dir: Path) -> list[str]:
    """Copy the working tree (tracked and new files, not ignored ones) into stage_dir with slowmo/ at the top;
    configure mutmut there for one module and its narrow tests. Returns the test files selected."""
    shutil.rmtree(stage_dir, ignore_errors=True)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,  # noqa: S607
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue
        relative = Path(name)
        if PACKAGE in relative.parents:
            relative = Path("slowmo") / relative.relative_to(PACKAGE)
        target = stage_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    tests = [f"tests/unit/{t}" for t in GUARDED[module][0] if (stage_dir / "tests/unit" / t).exists()]
    config = {
        "source_paths": ["slowmo"],
        "only_mutate": [f"slowmo/{module}.py"],
        "also_copy": ALSO_COPY,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:xdist", "-p", "no:cacheprovider", "-p", "mutmut_pytest9", "-q"],
    }
    (stage_dir / "mutmut_pytest9.py").write_text(PYTEST9_SHIM)
    with open(stage_dir / "pyproject.toml", "a") as fh:
        fh.write("\n[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()))
    return tests


def main(argv: list[str]) -> int:
    whole = "--whole-modules" in argv
    resume = "--resume" in argv  # keep build/mutation: mutmut reuses its test map and the results it has
    argv = [a for a in argv if not a.startswith("--")]
    modules = argv or [m for m in GUARDED if (ROOT / PACKAGE / f"{m}.py").exists()]
    unknown = [m for m in modules if m not in GUARDED or not (ROOT / PACKAGE / f"{m}.py").exists()]
    if unknown:
        print(f"mutants: unknown module(s) {', '.join(unknown)}; choose from {', '.join(GUARDED)}", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the mutated copy, never the original
    env.update(OPENCV_FOR_THREADS_NUM="1", OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    jobs = os.environ.get("MUTANT_JOBS", str(os.cpu_count() or 2))
    started = time.monotonic()
    counts: dict[str, int] = {}
    survivors: list[str] = []
    failed = 0
    for module in modules:
        stage_dir = BUILD / module.replace("/", "-")
        if resume and (stage_dir / "mutants").is_dir():
            print(f"mutants: {module}: resuming in {stage_dir.relative_to(ROOT)}", flush=True)
        else:
            tests = stage(module, stage_dir)
            print(f"mutants: {module}: against {', '.join(tests)}", flush=True)
        patterns = mutant_patterns(module, whole)
        module_started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", jobs, *patterns],  # noqa: S603
                             cwd=stage_dir, env=env, stdout=subprocess.DEVNULL)
        failed |= run.returncode
        results = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],  # noqa: S603
                                 cwd=stage_dir, env=env, capture_output=True, text=True, check=True).stdout
        mine: dict[str, int] = {}
        for line in results.splitlines():
            name, _, status = line.strip().rpartition(": ")
            if name and any(fnmatch.fnmatchcase(name, p) for p in patterns):
                mine[status] = mine.get(status, 0) + 1
                if status != "killed":
                    survivors.append(f"{name}: {status}")
        for status, n in mine.items():
            counts[status] = counts.get(status, 0) + n
        print(f"mutants: {module}: {time.monotonic() - module_started:.0f} s: "
              + ", ".join(f"{n} {s}" for s, n in sorted(mine.items())), flush=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "survivors.txt").write_text("\n".join(survivors) + "\n")
    checked = sum(n for s, n in counts.items() if s != "not checked")  # an interrupted run leaves some unchecked
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    print(f"mutants: {sum(counts.values())} mutants in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if checked:
        print(f"mutants: score {killed}/{checked} = {100 * killed / checked:.1f}% (killed or timed out); the others "
              f"are in {(BUILD / 'survivors.txt').relative_to(ROOT)}; `cd build/mutation/<module> && "
              f"{sys.executable} -m mutmut show NAME` shows one")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
