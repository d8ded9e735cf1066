"""Where classes, functions and methods are defined: the ACI's `outline` and `find_symbol`.

The ACI reads a file from the container and asks this module, on the host, for its symbols.
A tree-sitter query per language picks the candidate nodes in C (a cursor walk over every
node from Python takes twice as long); Python then names each candidate, gives it a kind and a
line range, and nests it under the symbols whose range contains it. Like the lint guard, nothing here raises: an input we cannot read has no symbols.

Kinds per language, as `render_outline` prints them:

- python: class; function; method (a function directly in a class body).
- javascript, typescript, tsx: class (also `const A = class {}`); function (declarations,
  generators, TS overload and `declare` signatures, `const f = () => ...`, `= function ...`);
  method (class methods, fields holding a function, abstract and interface method signatures);
  interface; type (type aliases); enum; namespace (TS `namespace`/`module`).
- go: function; method (qualified by its receiver type, `*Stack` as `Stack.Push`, and the
  methods listed in an interface); struct; interface; type (any other type spec or alias).
- rust: function; method (in an impl or a trait, signatures included); struct; union; enum;
  trait; impl (named after the implementing type: `impl Display for Foo` is "Foo"); module; type.
- java: class (records too); interface (annotation types too); enum; method (constructors too).
- c: function; struct, union, enum (with a body; an anonymous one takes its typedef's name).
- cpp: as C, plus class, namespace, and method (defined in a class body, or outside it as
  `Foo::bar`; `ns::f` is a function when `ns` is a namespace of the same file).

Not symbols: variables and constants, members of anonymous classes and object literals,
C/C++ declarations without a body (prototypes, pure virtuals), C/C++ typedefs and aliases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict
from tree_sitter import Node, Query, QueryCursor, Tree
from tree_sitter_language_pack import get_language

from agentenv.aci.lint import _parser, language_for_path

__all__ = ["MAX_SYMBOL_CHARS", "SUPPORTED_LANGUAGES", "Symbol", "find_definitions", "outline",
           "render_outline"]

SUPPORTED_LANGUAGES: frozenset[str] = frozenset(
    {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"}
)

# Above this size a file is generated or vendored (sqlite3.c is 9 MB); parsing it would take
# seconds for an outline nobody reads, so it has no symbols.
MAX_SYMBOL_CHARS = 5_000_000


class Symbol(BaseModel):
    """A definition in a file; lines are 1-based and inclusive, decorators/attributes included."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    qualified_name: str  # enclosing symbols joined by dots in every language: "Foo.bar"
    start_line: int
    end_line: int
    depth: int  # 0 at top level, 1 inside a class (impl, namespace, ...), ...


def outline(path: str, text: str) -> list[Symbol] | None:
    """The symbols of `text` in source order; None if the language of `path` is unsupported."""
    try:
        language = language_for_path(path)
        if language not in SUPPORTED_LANGUAGES:
            return None
        if len(text) > MAX_SYMBOL_CHARS:
            return []
        return list(_symbols(language, text, path.lower().endswith(".h")))
    except Exception:  # a crash here must never cost the agent its step
        return []


def find_definitions(name: str, path: str, text: str) -> list[Symbol]:
    """Symbols called `name`, bare ("add") or qualified by enclosing symbols ("IntervalSet.add").

    `Foo::bar` means `Foo.bar`, and a trailing `()` is ignored: agents write names both ways."""
    wanted = name.strip().replace("::", ".").removesuffix("()") if isinstance(name, str) else ""
    if not wanted:
        return []
    return [
        s for s in outline(path, text) or []
        if s.name == wanted or s.qualified_name == wanted or s.qualified_name.endswith("." + wanted)
    ]


def render_outline(path: str, symbols: list[Symbol], total_lines: int) -> str:
    """The outline for the agent: a header, then one line per symbol, indented by depth.

    A symbol shows its qualified name less its parent's (so a method shows "add" under its
    class, while a Go method at top level shows "Stack.Push")."""
    counts = f"{_count(total_lines, 'line')}, {_count(len(symbols), 'symbol')}"
    header = f"[Outline of {path} ({counts})]"
    if not symbols:
        return header + "\n(no classes or functions found)"
    lines = [header]
    enclosing: list[str] = []  # qualified names of the symbols open at each depth
    for symbol in symbols:
        depth = max(symbol.depth, 0)
        del enclosing[depth:]
        parent = enclosing[-1] if 0 < depth == len(enclosing) else ""
        shown = symbol.qualified_name
        if parent and shown.startswith(parent + "."):
            shown = shown[len(parent) + 1 :]
        span = (
            f"line {symbol.start_line}" if symbol.end_line <= symbol.start_line
            else f"lines {symbol.start_line}-{symbol.end_line}"
        )
        lines.append(f"{'  ' * depth}{symbol.kind} {shown}  ({span})")
        enclosing.extend([""] * (depth - len(enclosing)))
        enclosing.append(symbol.qualified_name)
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- from a text to symbols ---------------------------------------------------------------
@dataclass(frozen=True)
class _Definition:
    kind: str
    name: str
    node: Node  # its extent: `export`, `template <...>`, Python decorators included
    scope: tuple[str, ...] = ()  # qualifiers written in the definition: Go receiver, C++ `Foo::`
    leading: Node | None = None  # the first decorator/attribute before `node`, as its sibling

    @property
    def start(self) -> Node:
        return self.leading or self.node


_ERRORS = "(ERROR) @error"


# Cached because an agent often outlines a file and then looks for a symbol in it.
@functools.lru_cache(maxsize=16)
def _symbols(language: str, text: str, header_file: bool = False) -> tuple[Symbol, ...]:
    source = text.encode("utf-8", "replace")
    tree = _parser(language).parse(source)
    if header_file and language == "c" and tree.root_node.has_error:
        # `.h` is C by extension but often C++: take whichever grammar reads it better.
        cpp_tree = _parser("cpp").parse(source)
        if len(_captures("cpp", cpp_tree, _ERRORS)) < len(_captures("c", tree, _ERRORS)):
            language, tree = "cpp", cpp_tree
    describe = _DESCRIBERS[language]
    candidates = _captures(language, tree, _candidates_pattern(language))
    definitions = [d for node in candidates if (d := describe(node)) and d.name]
    if language == "cpp":
        namespaces = {d.name for d in definitions if d.kind == "namespace"}
        definitions = [
            replace(d, kind="function") if d.scope and d.scope[-1] in namespaces else d
            for d in definitions
        ]
    return _nest(definitions)


def _captures(language: str, tree: Tree, pattern: str) -> list[Node]:
    captures = QueryCursor(_query(language, pattern)).captures(tree.root_node)
    return [node for nodes in captures.values() for node in nodes]


@functools.cache
def _query(language: str, pattern: str) -> Query:
    return Query(get_language(language), pattern)  # type: ignore[arg-type]


@functools.cache
def _candidates_pattern(language: str) -> str:
    grammar = get_language(language)  # type: ignore[arg-type]
    # One list serves JS, TS and TSX: each grammar gets the node types it has.
    kinds = [k for k in _CANDIDATE_TYPES[language] if grammar.id_for_node_kind(k, True)]
    return "[" + " ".join(f"({k})" for k in kinds) + "] @definition"


def _nest(definitions: list[_Definition]) -> tuple[Symbol, ...]:
    """Symbols in source order, each qualified by the symbols whose extent contains it."""
    symbols = []
    open_: list[tuple[int, str]] = []  # (end byte, qualified name) of the enclosing symbols
    for d in sorted(definitions, key=lambda d: (d.start.start_byte, -d.node.end_byte)):
        start, end = d.start.start_byte, d.node.end_byte
        while open_ and (open_[-1][0] <= start or open_[-1][0] < end):
            open_.pop()
        parent = [open_[-1][1]] if open_ else []
        qualified = ".".join([*parent, *d.scope, d.name])
        symbols.append(Symbol(
            kind=d.kind, name=d.name, qualified_name=qualified,
            start_line=d.start.start_point.row + 1, end_line=_last_line(d.node), depth=len(open_),
        ))
        open_.append((end, qualified))
    return tuple(symbols)


def _last_line(node: Node) -> int:
    row, column = node.end_point
    # A node that ends with its newline ends on the line before the point it stops at.
    return row if column == 0 and row > node.start_point.row else row + 1


# --- tree helpers -------------------------------------------------------------------------
def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return " ".join(node.text.decode("utf-8", "replace").split())


def _name(node: Node, field: str = "name") -> str:
    name = node.child_by_field_name(field)
    if name is not None and name.type == "string":  # `'quoted'() {}`, `declare module "x"`
        return _text(name).strip("'\"`")
    return _text(name)


def _parent_type(node: Node | None) -> str:
    parent = node.parent if node is not None else None
    return parent.type if parent is not None else ""


def _leading(node: Node, sibling_type: str) -> Node | None:
    """The first of the `sibling_type` nodes right before `node` (TS decorators of a method,
    Rust attributes), which the grammar makes siblings of the definition, not part of it."""
    first = None
    while (previous := (first or node).prev_named_sibling) is not None and (
        previous.type == sibling_type
    ):
        first = previous
    return first


# --- per language: is this node a definition, and of what? --------------------------------
def _python(node: Node) -> _Definition | None:
    parent = node.parent
    extent = parent if parent is not None and parent.type == "decorated_definition" else node
    if node.type == "class_definition":
        return _Definition("class", _name(node), extent)
    body = extent.parent
    in_class = body is not None and body.type == "block" and (
        _parent_type(body) == "class_definition"
    )
    return _Definition("method" if in_class else "function", _name(node), extent)


_JS_DECLARATIONS = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "function_signature": "function", "class_declaration": "class",
    "abstract_class_declaration": "class", "interface_declaration": "interface",
    "type_alias_declaration": "type", "enum_declaration": "enum",
    "internal_module": "namespace", "module": "namespace",
}
_JS_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
_JS_MEMBERS = {"method_definition", "abstract_method_signature", "method_signature",
               "field_definition", "public_field_definition"}


def _javascript(node: Node) -> _Definition | None:
    if node.type in _JS_DECLARATIONS:
        return _Definition(_JS_DECLARATIONS[node.type], _name(node), _js_extent(node))
    if node.type == "variable_declarator":  # `const f = () => ...`, `const A = class {}`
        value = node.child_by_field_name("value")
        value_type = value.type if value is not None else ""
        if value_type != "class" and value_type not in _JS_FUNCTION_VALUES:
            return None
        declaration = node.parent
        alone = declaration is not None and declaration.named_child_count == 1
        extent = _js_extent(declaration if alone and declaration else node)
        return _Definition("class" if value_type == "class" else "function", _name(node), extent)
    body_type = _parent_type(node)
    if body_type != ("interface_body" if node.type == "method_signature" else "class_body"):
        return None  # a method of an object literal or an object type
    if node.type in ("field_definition", "public_field_definition"):
        value = node.child_by_field_name("value")
        if value is None or value.type not in _JS_FUNCTION_VALUES:
            return None
    name = _name(node, "property" if node.type == "field_definition" else "name")
    return _Definition("method", name, node, leading=_leading(node, "decorator"))


def _js_extent(node: Node) -> Node:
    # `internal_module` is wrapped in an expression statement by the grammar.
    while _parent_type(node) in ("export_statement", "ambient_declaration", "expression_statement"):
        node = node.parent  # type: ignore[assignment]
    return node


_GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}


def _go(node: Node) -> _Definition | None:
    if node.type == "function_declaration":
        return _Definition("function", _name(node), node)
    if node.type == "method_declaration":
        return _Definition("method", _name(node), node, scope=_go_receiver(node))
    if node.type == "method_elem":
        return _Definition("method", _name(node), node)
    type_node = node.child_by_field_name("type")
    kind = "type"
    if node.type == "type_spec" and type_node is not None:  # not a `type_alias`
        kind = _GO_TYPE_KINDS.get(type_node.type, "type")
    declaration = node.parent
    alone = declaration is not None and declaration.type == "type_declaration" and (
        declaration.named_child_count == 1
    )
    return _Definition(kind, _name(node), declaration if alone and declaration else node)


def _go_receiver(node: Node) -> tuple[str, ...]:
    receiver = node.child_by_field_name("receiver")
    parameter = receiver.named_children[0] if receiver and receiver.named_children else None
    type_node = parameter.child_by_field_name("type") if parameter is not None else None
    while type_node is not None and type_node.type in ("pointer_type", "generic_type",
                                                       "parenthesized_type"):
        inner = type_node.child_by_field_name("type")
        type_node = inner if inner is not None else type_node.named_child(0)
    name = _text(type_node)
    return (name,) if name else ()


_RUST_ITEMS = {"struct_item": "struct", "union_item": "union", "enum_item": "enum",
               "trait_item": "trait", "mod_item": "module", "type_item": "type"}


def _rust(node: Node) -> _Definition | None:
    attributes = _leading(node, "attribute_item")
    if node.type in _RUST_ITEMS:
        return _Definition(_RUST_ITEMS[node.type], _name(node), node, leading=attributes)
    if node.type == "impl_item":
        name = _rust_type_name(node.child_by_field_name("type"))
        return _Definition("impl", name, node, leading=attributes)
    body = node.parent
    in_impl = body is not None and body.type == "declaration_list" and (
        _parent_type(body) in ("impl_item", "trait_item")
    )
    if node.type == "function_signature_item" and not in_impl:
        return None  # `extern` blocks declare, they do not define
    kind = "method" if in_impl else "function"
    return _Definition(kind, _name(node), node, leading=attributes)


def _rust_type_name(node: Node | None) -> str:
    """`Foo` out of `Foo<T>`, `&'a Foo`, `fmt::Foo`."""
    while node is not None and node.type in ("generic_type", "reference_type", "pointer_type",
                                             "scoped_type_identifier"):
        node = node.child_by_field_name("name" if node.type == "scoped_type_identifier" else "type")
    return _text(node)


_JAVA_TYPES = {"class_declaration": "class", "record_declaration": "class",
               "interface_declaration": "interface", "annotation_type_declaration": "interface",
               "enum_declaration": "enum"}


def _java(node: Node) -> _Definition | None:
    if node.type in _JAVA_TYPES:
        return _Definition(_JAVA_TYPES[node.type], _name(node), node)
    body = node.parent
    if body is not None and body.type == "enum_body_declarations":
        body = body.parent
    if _parent_type(body) not in _JAVA_TYPES:
        return None  # a member of an anonymous class or of an enum constant's body
    return _Definition("method", _name(node), node)


_C_TYPES = {"struct_specifier": "struct", "union_specifier": "union", "enum_specifier": "enum",
            "class_specifier": "class"}
_C_DECLARATIONS = ("declaration", "type_definition", "field_declaration")
_C_CLASSES = ("class_specifier", "struct_specifier", "union_specifier")
_C_DECLARATOR_WRAPPERS = {"pointer_declarator", "function_declarator", "parenthesized_declarator",
                          "reference_declarator", "attributed_declarator"}
_C_NAMES = {"identifier", "field_identifier", "type_identifier", "namespace_identifier",
            "destructor_name", "operator_name", "operator_cast"}


def _c_family(node: Node) -> _Definition | None:
    if node.type == "namespace_definition":
        parts = _c_name_parts(node.child_by_field_name("name"))  # `namespace a::b` nests b in a
        return _Definition("namespace", parts[-1], node, tuple(parts[:-1])) if parts else None
    if node.type in _C_TYPES:
        return _c_type(node)
    parts = _c_name_parts(_c_declarator_name(node.child_by_field_name("declarator")))
    if not parts:
        return None
    extent = _template_extent(node)
    if len(parts) > 1:  # `void Foo::bar() {}`, defined outside its class
        return _Definition("method", parts[-1], extent, tuple(parts[:-1]))
    body = extent.parent  # a friend function defined in a class is still a free function
    in_class = body is not None and body.type == "field_declaration_list" and (
        _parent_type(body) in _C_CLASSES
    )
    return _Definition("method" if in_class else "function", parts[0], extent)


def _c_type(node: Node) -> _Definition | None:
    if node.child_by_field_name("body") is None:
        return None  # `struct foo;`, `struct foo *p;`: a mention, not a definition
    extent, parent = node, node.parent
    if parent is not None and parent.type in _C_DECLARATIONS and (
        parent.child_by_field_name("type") == node
    ):
        extent = parent  # `typedef struct {...} point_t;` ends at its `;`
    parts = _c_name_parts(node.child_by_field_name("name"))
    if not parts and extent.type == "type_definition":
        parts = _c_name_parts(_c_declarator_name(extent.child_by_field_name("declarator")))[-1:]
    if not parts:
        return None
    return _Definition(_C_TYPES[node.type], parts[-1], _template_extent(extent), tuple(parts[:-1]))


def _c_declarator_name(node: Node | None) -> Node | None:
    """The name inside a declarator: `*name`, `(*name)(int)`, `&name()`, `name[3]`..."""
    while node is not None and node.type in _C_DECLARATOR_WRAPPERS:
        inner = node.child_by_field_name("declarator")
        node = inner if inner is not None else node.named_child(0)
    return node


def _c_name_parts(node: Node | None) -> list[str]:
    """`ns::Foo<T>::bar` as ["ns", "Foo", "bar"]; [] for what is not a name."""
    if node is None:
        return []
    if node.type == "qualified_identifier":
        scope = node.child_by_field_name("scope")
        return _c_name_parts(scope) + _c_name_parts(node.child_by_field_name("name"))
    if node.type in ("template_type", "template_function", "template_method"):
        return _c_name_parts(node.child_by_field_name("name"))
    if node.type == "nested_namespace_specifier":
        return [part for child in node.named_children for part in _c_name_parts(child)]
    text = _text(node) if node.type in _C_NAMES else ""
    return [text] if text else []


def _template_extent(node: Node) -> Node:
    while _parent_type(node) == "template_declaration":
        node = node.parent  # type: ignore[assignment]
    return node


_CANDIDATE_TYPES: dict[str, tuple[str, ...]] = {
    "python": ("class_definition", "function_definition"),
    "javascript": (*_JS_DECLARATIONS, "variable_declarator", *_JS_MEMBERS),
    "go": ("function_declaration", "method_declaration", "method_elem", "type_spec", "type_alias"),
    "rust": ("function_item", "function_signature_item", "impl_item", *_RUST_ITEMS),
    "java": (*_JAVA_TYPES, "method_declaration", "constructor_declaration",
             "compact_constructor_declaration"),
    "c": ("function_definition", "struct_specifier", "union_specifier", "enum_specifier"),
    "cpp": ("function_definition", *_C_TYPES, "namespace_definition"),
}
_CANDIDATE_TYPES["typescript"] = _CANDIDATE_TYPES["tsx"] = _CANDIDATE_TYPES["javascript"]

_DESCRIBERS: dict[str, Callable[[Node], _Definition | None]] = {
    "python": _python, "javascript": _javascript, "typescript": _javascript, "tsx": _javascript,
    "go": _go, "rust": _rust, "java": _java, "c": _c_family, "cpp": _c_family,
}
