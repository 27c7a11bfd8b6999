"""The project's own imports form layers: no module imports one that imports it back.

Read from the source with `ast`, lazy imports inside functions included. Imports under
`if TYPE_CHECKING:` are left out: they name a type for the reader and never run.
"""

import ast
import os

from conftest import ROOT

PACKAGE = "tf_style"


def _modules():
    """Each module's dotted name and source path: tf_style's and train.py."""
    found = {"train": os.path.join(ROOT, "train.py")}
    for directory, _, names in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = os.path.relpath(path, ROOT)[:-len(".py")].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def _is_type_checking(node):
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(tree, modules):
    """The project's modules a module's source imports."""
    names = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from tf_style import batch` imports the module tf_style.batch.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return {name for name in names if name in modules}


def _import_graph():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        with open(path, encoding="utf8") as file:
            graph[name] = _imported(ast.parse(file.read()), modules) - {name}
    return graph


def _a_cycle(graph):
    """One cycle as a list of modules, or None."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return path[path.index(imported):] + [imported]
            if imported not in state:
                cycle = visit(imported, path + [imported])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


def test_the_reader_sees_lazy_imports_and_skips_type_checking_ones():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "from tf_style import batch\n"
        "if TYPE_CHECKING:\n    from tf_style.devices import Device\n"
        "def f():\n    from tf_style.runner import run\n    import tf_style.video\n")
    modules = {"tf_style", "tf_style.batch", "tf_style.devices", "tf_style.runner",
               "tf_style.video"}
    assert _imported(tree, modules) == {"tf_style", "tf_style.batch", "tf_style.runner",
                                        "tf_style.video"}
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_project_imports_form_no_cycle():
    graph = _import_graph()
    assert "tf_style.runner" in graph and graph["train"]  # the reader found the code
    assert _a_cycle(graph) is None, " -> ".join(_a_cycle(graph))


def test_the_runners_sit_below_the_entry_points():
    graph = _import_graph()
    below = {"tf_style.picture_runner", "tf_style.video_runner", "tf_style.run_setup",
             "tf_style.loop"}
    for module in below:
        assert not graph[module] & {"tf_style.runner", "tf_style.batch", "train"}, module
