"""The core's stages import downwards only (README, "Architecture"): a newcomer can read the package
bottom-up, and no stage needs one above it to be imported or tested."""

import ast
from pathlib import Path

import slowmo

PACKAGE = Path(slowmo.__file__).parent

# lowest first; a stage may import itself and any stage before it, never one after it
STAGES = ["errors", "timeline", "options", "media", "synthesis", "foresight", "local", "modelserver", "cloud", "cli"]


def stage_of(dotted: str) -> str | None:
    """slowmo.media.probe -> "media"; the package root (its version) belongs to no stage."""
    parts = dotted.split(".")
    return parts[1] if parts[0] == "slowmo" and len(parts) > 1 else None


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the core imports by absolute slowmo.* paths"
            if node.module and node.module.split(".")[0] == "slowmo":
                if node.module == "slowmo":  # from slowmo import x: x is a stage or the version
                    found.update(f"slowmo.{alias.name}" for alias in node.names)
                else:
                    found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "slowmo")
    return found


def module_stage(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_every_module_belongs_to_a_stage():
    strays = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
              if p.name != "__init__.py" or p.parent != PACKAGE
              if module_stage(p) not in STAGES]
    assert strays == []


def test_no_stage_imports_upward():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        here = STAGES.index(module_stage(path))
        for dotted in imports_of(path):
            there = stage_of(dotted)
            if there in (None, "__version__"):
                continue
            if STAGES.index(there) > here:
                upward.append(f"{path.relative_to(PACKAGE)} imports {dotted}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The rule bites: a media module that imported the local executor would be reported."""
    fake = tmp_path / "probe.py"
    fake.write_text("from slowmo.local.pipeline import run_job\nfrom slowmo.timeline import plan\n")
    found = imports_of(fake)
    assert found == {"slowmo.local.pipeline", "slowmo.timeline"}
    assert STAGES.index(stage_of("slowmo.local.pipeline")) > STAGES.index("media")
    assert STAGES.index(stage_of("slowmo.timeline")) < STAGES.index("media")
