"""The direction of imports (DESIGN "Layout and direction of imports"), checked from the sources: every `import` and
`from … import` anywhere in a file (inside functions too), plus string targets such as 'pkg.module:function'."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGET = re.compile(r"^([A-Za-z_][\w]*)(?:\.[\w]+)*:[\w.]+$")   # 'package.module:function' strings


def imports(package: str) -> list[tuple[str, int, str]]:
    """(file, line, imported top-level module or string-target package) for every Python file of `package`."""
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [(rel, node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out += [(rel, node.lineno, node.module)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.match(node.value):
                out += [(rel, node.lineno, node.value.split(":")[0])]
    return out


def offenders(package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for rel, line, name in imports(package):
        if any(name == f or name.startswith(f + ".") or (f.endswith("_") and name.startswith(f)) for f in forbidden) \
                and not any(name == a or name.startswith(a + ".") for a in allowed):
            bad.append(f"{rel}:{line} imports {name}")
    return bad


@pytest.mark.parametrize("package, forbidden, allowed", [
    ("engine", ("bot", "jobs", "ops", "storage", "slack_", "slack_bolt", "slack_sdk"), ()),
    ("storage", ("torch", "engine", "ops", "bot", "jobs", "slack_", "slack_bolt", "slack_sdk", "transformers"), ()),
    ("jobs", ("bot",), ()),
    ("ops", ("bot", "jobs", "slack_", "slack_bolt", "slack_sdk"), ()),
    # the Slack edge talks to the operations layer only (storage.errors: the exception types it turns into messages)
    ("bot/listeners", ("storage", "jobs"), ("storage.errors",)),
    ("bot/notify", ("storage", "jobs"), ("storage.errors",)),
])
def test_imports_run_one_way(package, forbidden, allowed):
    assert offenders(package, forbidden, allowed) == []


def test_the_checker_sees_imports_inside_functions_and_string_targets(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text("def f():\n    from bot.cli import main\n    return 'bot.x:run'\n")
    import sys
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert offenders("fake_pkg", ("bot",)) == ["fake_pkg/m.py:2 imports bot.cli", "fake_pkg/m.py:3 imports bot.x"]
