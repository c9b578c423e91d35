"""The one YAML loader for user files (study and comparison specs, training configs): safe
tags only, and bounded, so a hostile or careless file fails with one line instead of
exhausting memory or the stack.

- Aliases are allowed (anchors and `<<: *base` merges are common in configs), but the
  document's size with every alias expanded is bounded (`MAX_NODES`): a "billion laughs"
  file is a few hundred bytes that expand to 10**9 values once anything walks it.
- Nesting is bounded (`MAX_DEPTH`), aliases expanded included, before PyYAML's recursive
  composer and constructor could reach Python's recursion limit.

    data = load_yaml(text, source="spec.yaml")     # raises hpo.errors.ValidationError
"""

from __future__ import annotations

from typing import Any

import yaml

from hpo.errors import ValidationError

MAX_DEPTH = 64
MAX_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents nested deeper than MAX_DEPTH while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ValidationError(
                    f"nested deeper than {MAX_DEPTH} levels (line {mark.line + 1}): flatten it"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded(root: yaml.Node) -> tuple[int, int]:
    """(values, depth) of the document once every alias is expanded, computed on the node
    graph without expanding it (each node once, children before parents); refuses an alias
    cycle (an anchor used inside itself)."""
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size, depth = 1, 1
            for child in _children(node):
                child_size, child_depth = sizes[id(child)]
                size, depth = size + child_size, max(depth, child_depth + 1)
            sizes[key] = (min(size, MAX_NODES + 1), depth)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ValidationError("an alias refers to the anchor it is inside: write it out")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, *, source: str = "the YAML") -> Any:
    """Parse one YAML document (safe tags), or raise ValidationError with a one-line message
    naming `source`: a syntax error, too deep, or too large once aliases are expanded."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size, depth = _expanded(node)
        if depth > MAX_DEPTH:
            raise ValidationError(
                f"nested deeper than {MAX_DEPTH} levels once its aliases are expanded"
            )
        if size > MAX_NODES:
            raise ValidationError(
                f"holds more than {MAX_NODES} values once its aliases (*name) are expanded: "
                "write the values out or use fewer aliases"
            )
        return loader.construct_document(node)
    except ValidationError as e:
        raise ValidationError(f"{source}: {e}") from None
    except yaml.YAMLError as e:
        # PyYAML's messages span lines (with a caret under the column): keep one line.
        raise ValidationError(f"{source} is not valid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise ValidationError(f"{source}: nested too deeply to read: flatten it") from None
    finally:
        loader.dispose()
