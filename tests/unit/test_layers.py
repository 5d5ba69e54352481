"""The house: imports point down the layers (DESIGN.md section 3) and no module imports itself back
through others. Read from the source with `ast` (module-level and function-level imports alike;
`if TYPE_CHECKING:` imports are types only and left out)."""

import ast
import pathlib

import pytest

pytestmark = pytest.mark.unit

PACKAGE = pathlib.Path(__file__).parents[2] / "vdsm_hosted_engine"


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found: set[str] = set()
        skip: set[int] = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if _type_checking_block(node):
                skip.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vdsm_hosted_engine"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("vdsm_hosted_engine"))
        graph[module] = {m for m in found if m != module}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else ""


@pytest.mark.parametrize("low", ["broker", "virt", "storage", "hooks", "rpc"])
def test_lower_layers_do_not_import_the_decider_or_the_front_ends(low):
    graph = imports()
    for module, targets in graph.items():
        if _layer(module) != low:
            continue
        upward = sorted(t for t in targets if _layer(t) in {"ha", "cli", "verbs", "deploy", "sim", "lab"})
        assert upward == [], f"{module} imports {upward}"


def test_no_import_circles():
    graph = imports()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target == path[0]:
                circles.append(" -> ".join([*path, target]))
            elif target not in path and target in graph and len(path) < 6:
                visit(target, [*path, target])

    for module in sorted(graph):
        visit(module, [module])
    assert circles == [], "\n".join(sorted(set(circles))[:20])
