"""Damaged JSON files, unsafe names and escaping writes: each is one line naming the file or key."""

import pytest

from itr_bench.errors import ConfigError, ItrBenchError
from itr_bench.names import check_name, is_safe_name
from itr_bench.store.files import ensure_inside, number_table, read_json_file
from itr_bench.store.record import RECORD

DAMAGED = {
    "not utf-8": (lambda p: p.write_bytes(b'{"a": "\xff\xfe"}'), "not UTF-8 text"),
    "binary": (lambda p: p.write_bytes(bytes(range(256))), "not UTF-8 text"),
    "truncated": (lambda p: p.write_text('{"rsum": 12.5, "i2t_r1'), "not valid JSON"),
    "empty": (lambda p: p.write_text(""), "not valid JSON"),
    "a list": (lambda p: p.write_text("[1, 2]"), "expected a JSON object, got a JSON list"),
    "a folder": (lambda p: p.mkdir(), "is a folder, not a JSON file"),
    "missing": (lambda p: None, "no such file"),
    "deeply nested": (lambda p: p.write_text("[" * 100000 + "]" * 100000), "damaged"),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_json_is_one_line_naming_the_file(tmp_path, case):
    damage, message = DAMAGED[case]
    path = tmp_path / RECORD
    damage(path)
    with pytest.raises(ItrBenchError) as info:
        read_json_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_read_json_file_returns_the_content(tmp_path):
    (tmp_path / "a.json").write_text('{"x": [1, 2]}')
    assert read_json_file(tmp_path / "a.json") == {"x": [1, 2]}
    assert read_json_file(tmp_path / "a.json", expect=(dict, list)) == {"x": [1, 2]}


def test_number_table_names_the_key(tmp_path):
    assert number_table({"rsum": 1, "r1": 2.5}, "r.json", "test") == {"rsum": 1.0, "r1": 2.5}
    with pytest.raises(ItrBenchError, match=r"r\.json: test\.rsum: expected a number, got '12'"):
        number_table({"rsum": "12"}, "r.json", "test")
    with pytest.raises(ItrBenchError, match=r"r\.json: test: expected a table of numbers, got null"):
        number_table(None, "r.json", "test")
    with pytest.raises(ItrBenchError, match=r"test\.rsum: expected a finite number"):
        number_table({"rsum": float("nan")}, "r.json", "test", finite=True)


@pytest.mark.parametrize("name", ["paper-ablation", "ranking-only", "Run_1.b+c", "flickr8k", "a" * 128])
def test_safe_names(name):
    assert is_safe_name(name) and check_name(name, "s.toml", "runs[0].name") == name


@pytest.mark.parametrize("name", ["../../../x", "/etc/x", "..", ".", "a/b", "a\\b", ".hidden", "", "x..y",
                                  "a b", "a\x00b", "-x", "a" * 129, None, 3, ["x"]])
def test_unsafe_names_are_one_line_naming_the_key(name):
    with pytest.raises(ConfigError) as info:
        check_name(name, "s.toml", "suite.name")
    assert str(info.value).startswith("s.toml: suite.name: ") and "is not a valid name" in str(info.value)


def test_ensure_inside(tmp_path):
    assert ensure_inside(tmp_path, tmp_path / "a" / "b.md") == tmp_path / "a" / "b.md"
    with pytest.raises(ItrBenchError, match="refusing to write outside"):
        ensure_inside(tmp_path / "out", tmp_path / "out" / ".." / ".." / "x.md")
    with pytest.raises(ItrBenchError, match="refusing to write outside"):
        ensure_inside(tmp_path / "out", "/etc/x.md")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    with pytest.raises(ItrBenchError, match="refusing to write outside"):
        ensure_inside(tmp_path / "out", tmp_path / "out" / "link" / "x.md")


def test_expected_kinds_are_named(tmp_path):
    (tmp_path / "a.json").write_text('"text"')
    with pytest.raises(ItrBenchError, match="expected a JSON object or a JSON list, got a JSON string"):
        read_json_file(tmp_path / "a.json", expect=(dict, list))
