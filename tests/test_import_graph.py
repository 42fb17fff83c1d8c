"""The package's own import graph (issue 14): no cycle between sub-packages, no import of another module's private
(underscored) names, and function-level imports of sphembed modules only where they keep TensorFlow out of a module
that the CLI imports at start-up.

The graph is read from the source (ast), module-level and function-level imports alike: a cycle dodged by moving an
import into a function is still a cycle. Nodes are sub-packages (`sphembed.models.sphere`, `sphembed.pose`, ...);
modules at the package root (`sphembed.cli`, `sphembed.presets`, ...) are nodes of their own.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SKIP = {"tests", "benchmarks", ".venv", "build", ".ci"}


def package_modules():
    """{dotted module name: path} of every module of the installed package (the repo root is `sphembed`)."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in SKIP or any(p.startswith(".") for p in rel.parts):
            continue
        parts = ["sphembed", *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = package_modules()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def node_of(module):
    """The graph node of a module: its sub-package, or itself for a module at the package root."""
    if module in PACKAGES:
        return module
    parent = module.rsplit(".", 1)[0]
    return module if parent == "sphembed" else parent


def resolve(name):
    """The longest prefix of a dotted name that is a module of the package (None when outside it)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def imports_of(module):
    """[(imported module, imported names, lineno, at module level)] of one module's sphembed imports."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sphembed"):
            for alias in node.names:
                target = resolve(f"{node.module}.{alias.name}")
                if target and target != node.module and MODULES[target].stem == alias.name.split(".")[-1]:
                    found.append((target, (), node.lineno, id(node) in top))  # `from pkg import module`
                else:
                    found.append((resolve(node.module), (alias.name,), node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sphembed"):
                    found.append((resolve(alias.name), (), node.lineno, id(node) in top))
    return [f for f in found if f[0] is not None]


def package_graph():
    """{node: {node it imports: [(module, lineno), ...]}} over all imports between different nodes."""
    graph = {}
    for module in MODULES:
        for target, _, lineno, _ in imports_of(module):
            a, b = node_of(module), node_of(target)
            if a != b:
                graph.setdefault(a, {}).setdefault(b, []).append((module, lineno))
    return graph


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_cycles_between_sub_packages():
    graph = package_graph()
    found = cycles(graph)
    detail = []
    for component in found:
        for a in component:
            for b, where in graph.get(a, {}).items():
                if b in component:
                    detail.append(f"{a} -> {b}: " + ", ".join(f"{m}:{n}" for m, n in where[:3]))
    assert not found, "import cycles between sub-packages:\n" + "\n".join(detail)


def test_no_imports_of_private_names_of_other_modules():
    bad = [f"{module}:{lineno} imports {name} from {target}"
           for module in MODULES for target, names, lineno, _ in imports_of(module)
           for name in names if name.startswith("_") and target != module]
    assert not bad, "\n".join(bad)


def test_the_checker_finds_a_cycle_and_a_private_import():
    """The checks can fail: a two-node loop is a cycle, a DAG is not."""
    assert cycles({"a": {"b": []}, "b": {"a": []}}) == [["a", "b"]]
    assert cycles({"a": {"b": []}, "b": {"c": []}}) == []
    assert node_of("sphembed.models.sphere.grids") == "sphembed.models.sphere"
    assert node_of("sphembed.cli") == "sphembed.cli"
    assert resolve("sphembed.models.sphere.grids.sphere_grid") == "sphembed.models.sphere.grids"


TF_PACKAGES = ("tensorflow", "keras", "tensorflow_hub", "tensorflow_graphics", "tf_keras")


def _third_party_top(module):
    """Top-level names of the non-sphembed packages a module imports at module level."""
    tree = ast.parse(MODULES[module].read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imports_tensorflow(module, _seen=None):
    """Whether importing the module imports TensorFlow (directly or through its module-level sphembed imports)."""
    seen = set() if _seen is None else _seen
    if module in seen:
        return False
    seen.add(module)
    if _third_party_top(module) & set(TF_PACKAGES):
        return True
    parents = [p for p in PACKAGES if module.startswith(p + ".")]
    return any(imports_tensorflow(t, seen) for t, _, _, top in imports_of(module) if top) or any(
        imports_tensorflow(p, seen) for p in parents)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_function_level_imports_only_keep_tensorflow_out(module):
    """A function-level sphembed import is allowed only where it keeps TensorFlow out of a module that is TF-free
    at import (the CLI's start-up, the spawned rendering / ray-casting workers): the importing module does not import
    TensorFlow, and the imported one does."""
    if imports_tensorflow(module):
        inner = [(t, n) for t, _, n, top in imports_of(module) if not top and t != module]
    else:
        inner = [(t, n) for t, _, n, top in imports_of(module) if not top and t != module and not imports_tensorflow(t)]
    assert not inner, (f"{module} imports {', '.join(f'{t} (line {n})' for t, n in inner)} inside functions; "
                       "import them at module level")


def test_the_tensorflow_check_follows_module_level_imports():
    assert imports_tensorflow("sphembed.models.sphere.harmonics")
    assert not imports_tensorflow("sphembed.models.sphere.grids")  # numpy-only: TF-free workers use it
    assert not imports_tensorflow("sphembed.cli")  # `sphembed --help` stays TF-free
