"""The public surface: the documented names, sorted, each name at home, classes final."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import tapelog


DESIGN_NAMES = {
    "configure",
    "get_logger",
    "Logger",
    "context",
    "bind_context",
    "unbind_context",
    "clear_context",
    "get_context",
    "set_level",
    "flush",
    "shutdown",
    "stats",
    "Stats",
    "reload",
    "capture_stdlib",
}


class TestExports:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ is sorted and holds every name the README documents."""
        assert sorted(tapelog.__all__) == tapelog.__all__
        assert set() == DESIGN_NAMES - set(tapelog.__all__)

    def test_every_export_exists(self) -> None:
        """Every name in __all__ resolves."""
        missing = [name for name in tapelog.__all__ if not hasattr(tapelog, name)]

        assert [] == missing

    def test_concrete_classes_are_final(self) -> None:
        """Public classes cannot be subclassed by accident."""
        not_final = [
            name
            for name in tapelog.__all__
            if inspect.isclass(getattr(tapelog, name))
            and not issubclass(getattr(tapelog, name), BaseException)
            and name != "Config"
            and not getattr(getattr(tapelog, name), "__final__", False)
        ]

        assert [] == not_final

    def test_each_export_names_its_public_home(self) -> None:
        """Every export's __module__ is a public module, never a private _x one."""
        private = {
            name: getattr(tapelog, name).__module__
            for name in tapelog.__all__
            if any(part.startswith("_") for part in getattr(tapelog, name).__module__.split("."))
        }

        assert {} == private

    def test_version(self) -> None:
        """__version__ is a dotted version string."""
        assert tapelog.__version__.count(".") >= 2

    def test_testing_module(self) -> None:
        """tapelog.testing offers capture."""
        from tapelog import testing

        assert callable(testing.capture)


# Every public module: the names users import, and nothing else (tapelog's own plumbing
# stays in the private modules, which the package imports directly).
PUBLIC_MODULES = (
    "tapelog",
    "tapelog.cli",
    "tapelog.config",
    "tapelog.errors",
    "tapelog.exceptions",
    "tapelog.formats",
    "tapelog.metrics",
    "tapelog.processors",
    "tapelog.retention",
    "tapelog.sinks",
    "tapelog.stdlib",
    "tapelog.testing",
    "tapelog.typing",
)


def leaked(module: ModuleType) -> list[str]:
    """Public-looking names of ``module`` that tapelog defines but ``__all__`` leaves out."""
    exported = set(module.__all__)
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or name in exported or name == "TYPE_CHECKING":
            continue
        if isinstance(value, ModuleType):
            continue
        home = getattr(value, "__module__", None)
        defined_here = not hasattr(value, "__module__") and not callable(value)
        if (isinstance(home, str) and home.startswith("tapelog")) or (
            defined_here and name.isupper()
        ):
            found.append(name)
    return sorted(found)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
class TestEveryPublicModule:
    def test_all_is_sorted_and_resolves(self, name: str) -> None:
        """__all__ is sorted (constants, classes, functions) and every name in it exists."""
        module = importlib.import_module(name)
        missing = [item for item in module.__all__ if not hasattr(module, item)]

        assert sorted(module.__all__, key=_export_order) == list(module.__all__)
        assert [] == missing

    def test_nothing_public_outside_all(self, name: str) -> None:
        """A name tapelog defines is either in the module's __all__ or private."""
        module = importlib.import_module(name)
        for lazy in getattr(module, "__all__", ()):
            getattr(module, lazy)  # lazy exports (tapelog.sinks) are loaded, then compared

        assert [] == leaked(module)


def _export_order(name: str) -> tuple[int, str]:
    """ruff's order for __all__: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


# Each layer may import only from the layers listed for it (and from itself), lowest first.
# This table is the one map of the layers: tapelog/__init__.py and docs/architecture.md
# show it as rendered by ``layer_map()`` below, and a test keeps them equal.
LAYERS: dict[str, set[str]] = {
    "caller": {
        "_logger",
        "_loggers",
        "_context",
        "_levels",
        "_event",
        "_lazy",
        "typing",
        "exceptions",
    },
    "config": {"config"},
    "processors": {"processors"},
    "formats": {"formats"},
    "retention": {"retention"},
    "dispatch": {"_dispatch", "_stats"},
    "sinks": {"sinks"},
    "pipeline": {"_pipeline", "_entry"},
}
ALLOWED: dict[str, set[str]] = {
    "caller": {"caller"},
    "config": {"caller", "config"},
    "processors": {"caller", "processors"},
    "formats": {"caller", "formats"},
    "retention": {"caller", "formats", "config", "retention"},
    "dispatch": {"caller", "dispatch", "config"},
    "sinks": {"caller", "sinks", "formats", "dispatch", "config", "retention"},
    "pipeline": {"caller", "dispatch", "pipeline", "processors", "formats", "sinks", "config"},
}
SRC = Path(tapelog.__file__).parent


def layer_map() -> str:
    """The layers, top first: each one's modules, then the layers it may import."""
    order = list(LAYERS)
    width = max(map(len, order)) + 2
    lines = [
        f"{'(on top)':<{width}}the API, _runtime, _capture, _signals, _otel, stdlib, testing, cli/ ..."
    ]
    for layer in reversed(order):
        below = sorted(ALLOWED[layer] - {layer}, key=order.index, reverse=True)
        imports = ", ".join(below) if below else "nothing"
        lines.append(f"{layer:<{width}}{_modules(layer)}  -> {imports}")
    return "\n".join(line.rstrip() for line in lines)


def _modules(layer: str) -> str:
    return " ".join(
        name + "/" if (SRC / name).is_dir() else name
        for name in sorted(LAYERS[layer], key=lambda n: n.lstrip("_"))
    )


def layer_of(module: str) -> str | None:
    top = module.split(".")[1] if module.startswith("tapelog.") else None
    return next((layer for layer, names in LAYERS.items() if top in names), None)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("tapelog.")}


class TestLayers:
    def test_layers_import_downwards_only(self) -> None:
        """No module imports from a layer above its own (checked on the source)."""
        violations = []
        for path in SRC.rglob("*.py"):
            module = "tapelog." + ".".join(path.relative_to(SRC).with_suffix("").parts)
            layer = layer_of(module)
            if layer is None:
                continue
            for imported in imports_of(path):
                target = layer_of(imported)
                if target is not None and target not in ALLOWED[layer]:
                    violations.append(f"{module} ({layer}) imports {imported} ({target})")

        assert [] == violations

    def test_the_package_imports_private_modules_not_its_facades(self) -> None:
        """Inside tapelog, a name comes from the private module that defines it, so the
        public facades can stay small (a facade module itself re-exports, of course)."""
        facades = {  # tapelog.cli defines main() itself: it is not a facade
            name
            for name in PUBLIC_MODULES
            if (SRC / name.removeprefix("tapelog.")).is_dir() and name != "tapelog.cli"
        }
        through_facades = [
            f"{path.relative_to(SRC)} imports from {module}"
            for path in SRC.rglob("*.py")
            if path.name != "__init__.py"
            for module in sorted(imports_of(path) & facades)
        ]

        assert [] == through_facades

    def test_the_maps_show_this_table(self) -> None:
        """tapelog's docstring and docs/architecture.md show the layer table as it is here."""
        rendered = layer_map()
        indented = "\n".join("    " + line for line in rendered.splitlines())
        # From the checkout: the package may be installed elsewhere (the compiled build).
        docs = Path(__file__).resolve().parents[2] / "docs"
        architecture = (docs / "architecture.md").read_text()

        assert indented in (tapelog.__doc__ or ""), f"tapelog/__init__.py should show:\n{indented}"
        assert rendered in architecture, f"docs/architecture.md should show:\n{rendered}"

    def test_optional_heavy_modules_are_not_imported_by_tapelog(self) -> None:
        """import tapelog loads no optional dependency (compression, protobuf, HTTP)."""
        code = "import sys, tapelog; print(sorted(m for m in ('zstandard', 'google.protobuf', 'psutil', 'urllib.request', 'jsonschema') if m in sys.modules))"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

        assert "[]" == out.strip()
