"""One declaration, two syntaxes: text actions and JSON function calls parse alike."""

from __future__ import annotations

import json

import pytest

from agentenv.aci.parser import ActionParseError, format_action, parse_action
from agentenv.aci.tools import ToolBundle, ToolsError, load_bundle


@pytest.fixture(scope="module")
def bundle() -> ToolBundle:
    return load_bundle()


@pytest.mark.parametrize(
    ("text", "call"),
    [
        ("open src/a.py 12", {"name": "open", "arguments": {"path": "src/a.py", "line_number": 12}}),
        ("open 'my file.py'", {"name": "open", "arguments": {"path": "my file.py"}}),
        ("goto 5", {"name": "goto", "arguments": {"line_number": "5"}}),
        ("scroll_down", {"name": "scroll_down", "arguments": "{}"}),
        ('search_dir "def main" src', {"name": "search_dir", "arguments": {"search_term": "def main", "dir": "src"}}),
        ("edit 3:4\n    return x\nend_of_edit", {"name": "edit", "arguments": json.dumps({"start_line": 3, "end_line": 4, "replacement_text": "    return x"})}),
        ("edit 3:4\nend_of_edit", {"name": "edit", "arguments": {"start_line": 3, "end_line": 4, "replacement_text": ""}}),
        ("bash ls -la | grep 'x y' && echo \"$HOME\"", {"name": "bash", "arguments": {"command": "ls -la | grep 'x y' && echo \"$HOME\""}}),
        ("bash for i in 1 2; do\n  echo $i\ndone", {"name": "bash", "arguments": {"command": "for i in 1 2; do\n  echo $i\ndone"}}),
        ("submit", {"name": "submit", "arguments": {}}),
    ],
)
def test_text_and_function_call_parse_identically(bundle: ToolBundle, text: str, call: dict) -> None:
    from_text = parse_action(text, bundle)
    from_call = parse_action(json.dumps(call), bundle)
    assert from_text.name == from_call.name
    assert from_text.arguments == from_call.arguments
    # And the text syntax can be written back from the parsed form.
    assert parse_action(format_action(from_text.name, from_text.arguments, bundle), bundle).arguments == from_text.arguments


def test_edit_body_keeps_indentation_and_blank_lines(bundle: ToolBundle) -> None:
    parsed = parse_action("edit 1:2\n\tif x:\n\n        pass  \nend_of_edit\n", bundle)
    assert parsed.arguments["replacement_text"] == "\tif x:\n\n        pass  \n"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("", "Empty action"),
        ("   \n ", "Empty action"),
        ("frobnicate now", "Unknown command 'frobnicate'.*bash <command>"),
        ("ls -la", "Unknown command 'ls'"),
        ("open", "<path> is missing"),
        ("open a.py 1 2", "too many arguments"),
        ("open a.py twelve", "<line_number> must be an integer"),
        ("goto", "<line_number> is missing"),
        ("edit 3-4\nx\nend_of_edit", "does not have the form <start_line>:<end_line>"),
        ("edit 3:x\nx\nend_of_edit", "<end_line> must be an integer"),
        ("edit 3:4\nnew text without the end line", "must end with a line holding only end_of_edit"),
        ("edit 3:4\nx\nend_of_edit\nopen b.py", "text after end_of_edit"),
        ("open 'unclosed", "cannot read the arguments"),
        ("goto 3\ngoto 4", "takes a single line"),
        ("bash", "<command> is missing"),
        ('{"name": "goto"', "not valid JSON"),
        ('{"name": "goto", "arguments": {}}', "argument 'line_number' is missing"),
        ('{"name": "goto", "arguments": {"line_number": 1, "extra": 2}}', "unknown argument"),
        ('{"name": "goto", "arguments": {"line_number": [1]}}', "must be an integer"),
        ('{"name": "nope", "arguments": {}}', "Unknown command 'nope'"),
        ('{"arguments": {}}', "must be"),
        ("open a\x00b", "NUL"),
    ],
)
def test_malformed_actions_explain_what_is_wrong(bundle: ToolBundle, action: str, message: str) -> None:
    with pytest.raises(ActionParseError, match=message):
        parse_action(action, bundle)


def test_function_schemas_come_from_the_declarations(bundle: ToolBundle) -> None:
    schemas = {s["function"]["name"]: s for s in bundle.function_schemas()}
    assert set(schemas) == set(bundle.by_name)
    edit = schemas["edit"]["function"]["parameters"]
    assert edit["required"] == ["start_line", "end_line", "replacement_text"]
    assert edit["properties"]["start_line"]["type"] == "integer"
    assert schemas["open"]["function"]["parameters"]["required"] == ["path"]


def test_docs_list_every_command_with_its_usage(bundle: ToolBundle) -> None:
    docs = bundle.docs()
    for command in bundle.commands:
        assert command.usage in docs
    assert "edit <start_line>:<end_line>\n<replacement_text>\nend_of_edit" in docs


def test_a_malformed_bundle_names_the_file_and_field(tmp_path) -> None:
    (tmp_path / "config.yaml").write_text(
        "name: broken\ncommands:\n  - name: go\n    signature: go <line>\n    docstring: d\n    arguments: []\n"
    )
    with pytest.raises(ToolsError, match=r"config\.yaml: .*commands\.0.*placeholders"):
        load_bundle(tmp_path)
    with pytest.raises(ToolsError, match="cannot be read"):
        load_bundle(tmp_path / "missing")
