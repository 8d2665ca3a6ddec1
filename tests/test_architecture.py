"""House rules checked mechanically."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / package).rglob("*.py")
    )


def test_pipeline_and_schemas_never_import_prefect():
    mods = _modules("pipeline") + _modules("schemas")
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "print('prefect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert out.stdout.strip() == "False"


def test_schemas_import_only_pandas_and_pandera():
    for path in (ROOT / "schemas").rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import ", "from ")):
                top = line.split()[1].split(".")[0]
                assert top in {"__future__", "pandas", "pandera", "schemas", "typing"}, (
                    f"{path.name}: {line}")


def test_pipeline_does_not_import_flows():
    for path in (ROOT / "pipeline").rglob("*.py"):
        text = path.read_text()
        assert "from flows" not in text and "import flows" not in text, path
