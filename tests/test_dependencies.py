"""Every third-party import is declared with a lower and an upper bound, the installed versions are
inside those ranges, docs/dependencies.md says the same, and no other library's private names are
used outside the one guarded place (models/tokenizer.py via joulebench.deps)."""
from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

import pytest
from dependency_table import VERSION, docs_table
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (JetPack 6): its backport, where installed
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")

REPO = Path(__file__).resolve().parents[1]
RUNTIME_EXTRAS = ("capture",)
# Modules loaded through importlib.resources / a command line, not an import statement.
NOT_IMPORTED = {"aiperf", "tabulate"}


def source_files() -> list[Path]:
    files = sorted((REPO / "src" / "joulebench").rglob("*.py")) + sorted((REPO / "scripts").glob("*.py"))
    return files + sorted((REPO / "rules").glob("*.smk")) + [REPO / "Snakefile"]


def parse(path: Path) -> ast.Module:
    text = path.read_text()
    if path.suffix == ".py":
        return ast.parse(text, filename=str(path))
    # Snakemake files are not Python: keep their single-line import statements (indented or not)
    body = []
    for line in text.splitlines():
        code = line.split("#")[0].strip()
        if code.startswith(("import ", "from ")) and not code.endswith(("(", ",", "\\")):
            body += ast.parse(code).body
    return ast.Module(body=body, type_ignores=[])


def third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in sys.stdlib_module_names and top != "joulebench"


def imports(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return [m for m in found if third_party(m)]


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def floor(req: Requirement) -> str:
    return next(s.version for s in req.specifier if s.operator in (">=", "=="))


def test_every_third_party_import_is_declared():
    dists = metadata.packages_distributions()
    wanted = declared()
    undeclared = {}
    for path in source_files():
        for module in imports(parse(path)):
            top = module.split(".")[0]
            names = {canonicalize_name(d) for d in dists.get(top, [])}
            if not names & wanted.keys():
                undeclared.setdefault(top, []).append(str(path.relative_to(REPO)))
    assert not undeclared, f"imported but not declared in pyproject.toml (dependencies or {RUNTIME_EXTRAS}): {undeclared}"


def test_the_scan_sees_the_imports_it_must():
    # known answer: a scan that silently returned nothing would pass the test above
    seen = {m.split(".")[0] for p in source_files() for m in imports(parse(p))}
    assert {"numpy", "pandas", "yaml", "transformers", "tokenizers", "snakemake", "pynvml", "gguf"} <= seen


@pytest.mark.parametrize("name", sorted(declared()))
def test_declared_with_both_bounds_and_installed_inside(name):
    req = declared()[name]
    ops = {s.operator for s in req.specifier}
    assert ops & {">=", ">", "==", "~="} and ops & {"<", "<=", "==", "~="}, f"{req}: needs a lower and an upper bound"
    try:
        have = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{req.name} is declared but not installed in this environment")
    assert req.specifier.contains(have, prereleases=True), f"installed {req.name} {have} is outside {req.specifier}"


def test_docs_table_matches_pyproject():
    rows, wanted = docs_table(), declared()
    assert rows.keys() == wanted.keys()
    for name, cells in rows.items():
        assert Requirement(f"x{cells[1]}").specifier == wanted[name].specifier, f"docs/dependencies.md: {name}"


def test_the_declared_floor_is_the_lowest_version_tested():
    # "lowest tested" lists what tools/lowest_versions.py installed: first the version the floor pins
    # (analysis set), then any the capture extra raised it to; each inside the declared range
    for name, cells in docs_table().items():
        tested = VERSION.findall(cells[3])
        assert tested, f"docs/dependencies.md: {name} has no lowest tested version"
        req = declared()[name]
        assert Version(tested[0]) == Version(floor(req)), f"{name}: floor {floor(req)}, lowest tested {tested[0]}"
        assert all(req.specifier.contains(v, prereleases=True) for v in tested), f"{name}: {tested} vs {req}"


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_this_environment_is_one_the_table_records():
    # the development environment is the "highest tested" column; a lowest-version environment
    # (tools/lowest_versions.py; its analysis set lacks the capture extra) has each package it
    # installed at one of its "lowest tested" versions
    rows = docs_table()
    have = {n: installed_version(n) for n in rows}
    present = {n for n, v in have.items() if v}
    lowest = {n for n in present if have[n] in VERSION.findall(rows[n][3])}
    assert have == {n: c[4] for n, c in rows.items()} or lowest == present, (
        f"installed {have} is neither the highest tested nor a lowest tested set "
        f"(not at a lowest version: {sorted(present - lowest)})")


def test_the_table_parsers_known_answer():
    assert floor(Requirement("x>=1.26,<3")) == "1.26" and floor(Requirement("x==0.19.0")) == "0.19.0"
    assert VERSION.findall("2.0.0; 2.3.3 with capture") == ["2.0.0", "2.3.3"]
    assert VERSION.findall("12.535.77") == ["12.535.77"] and VERSION.findall("—") == []


def private_uses(path: Path) -> set[tuple[str, str]]:
    """(module, private name) for `from X import _y`, `import X._y` and `alias._y` on a third-party module."""
    tree, found, aliases = parse(path), set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if third_party(a.name):
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                    found |= {(a.name, part) for part in a.name.split(".") if part.startswith("_")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and third_party(node.module):
            found |= {(node.module, part) for part in node.module.split(".") if part.startswith("_")}
            for a in node.names:
                if a.name.startswith("_"):
                    found.add((node.module, a.name))
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.add((aliases[node.value.id], node.attr))
    return found


def test_no_private_names_of_other_libraries():
    used = {(str(p.relative_to(REPO)), mod, name) for p in source_files() for mod, name in private_uses(p)}
    assert used == set()


def test_every_name_read_from_the_transformers_internal_is_guarded():
    # models/tokenizer.py reads the module through `m = gguf_tokenizer_mapping()`: each `m.<name>` it
    # uses must be in GGUF_INTERNALS, the names import_internal checks before anything runs
    from joulebench.models.tokenizer import GGUF_INTERNALS

    tree = parse(REPO / "src" / "joulebench" / "models" / "tokenizer.py")
    bound = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
             and getattr(n.value.func, "id", None) == "gguf_tokenizer_mapping" for t in n.targets}
    read = {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in bound}
    assert bound == {"m"} and "_SPECIAL_TOKENS" in read
    assert read <= set(GGUF_INTERNALS), read - set(GGUF_INTERNALS)


def test_the_private_name_scan_finds_them(tmp_path):
    # known answer for the scan itself
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy as np\nfrom pandas._libs import lib\nfrom transformers import _x\n"
                     "from scipy import stats\nnp._core\nstats._distn_infrastructure\nnp.__version__\n")
    assert private_uses(probe) == {("pandas._libs", "_libs"), ("transformers", "_x"), ("numpy", "_core"),
                                   ("scipy.stats", "_distn_infrastructure")}


def test_guarded_internal_names_the_package_range_and_missing_names():
    from joulebench.deps import import_internal
    from joulebench.errors import CaptureError
    from joulebench.models.tokenizer import TRANSFORMERS_RANGE

    assert declared()["transformers"].specifier == Requirement("x" + ",".join(TRANSFORMERS_RANGE)).specifier
    have = metadata.version("numpy")
    with pytest.raises(CaptureError, match=rf"reading x needs numpy <1 \(installed: {re.escape(have)}\)"):
        import_internal("numpy", ("ndarray",), "numpy", "<1", "reading x")
    with pytest.raises(CaptureError, match=r"uses numpy\.no_such_name, which numpy .* tested with numpy >=1"):
        import_internal("numpy", ("ndarray", "no_such_name"), "numpy", ">=1", "reading x")
    assert import_internal("numpy", ("ndarray",), "numpy", ">=1", "reading x").ndarray is not None
