"""Reading rostersync.yaml so that it cannot hurt: no alias bombs, no silently overridden keys.

YAML aliases let 500 bytes stand for billions of values ("billion laughs"); everything after parsing (the
${ENV} pass, pydantic) walks the expanded tree, so an alias bomb hangs `validate` with memory growing
without bound. A config needs few aliases, so the expanded size is bounded. A key written twice in one
mapping is refused too: YAML keeps the last one silently, and the first one is usually what a person meant.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from rostersync_pipelines.errors import ConfigError

MAX_EXPANDED_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: key '{key}' is written twice in the same mapping "
                    f"(first on line {seen[key] + 1}); keep one"
                )
            if isinstance(key, str | int | float | bool):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Node, sizes: dict[int, int], depth: int = 0) -> int:
    """Nodes after expanding every alias, counted once per distinct node (linear in the document)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if depth > 200:
        raise ConfigError("the YAML nests deeper than 200 levels")
    total = 1
    if isinstance(node, SequenceNode):
        total += sum(_expanded_size(child, sizes, depth + 1) for child in node.value)
    elif isinstance(node, MappingNode):
        total += sum(
            _expanded_size(key, sizes, depth + 1) + _expanded_size(value, sizes, depth + 1)
            for key, value in node.value
        )
    sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


def load_yaml(text: str, file: Path):
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        if _expanded_size(root, {}) > MAX_EXPANDED_NODES:
            first_alias = text.find("*")
            line = text.count("\n", 0, first_alias) + 1 if first_alias >= 0 else 1
            raise ConfigError(
                f"{file}: line {line}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values; "
                "write the values out instead of repeating aliases"
            )
        return loader.construct_document(root)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(file)) else f"{file}: {message}") from None
    finally:
        loader.dispose()
