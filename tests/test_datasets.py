import json

import pytest

from core.datasets import read_edit_file
from core.errors import InvalidInput
from tests.conftest import DATA


def test_counterfact_records(tmp_path, counterfact_slice):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps(counterfact_slice))
    result = read_edit_file(path)
    assert len(result.cases) == 20 and not result.errors
    case = result.cases[0][1]
    assert case.edit.prompt == counterfact_slice[0]["prompt"]
    assert case.edit.target == counterfact_slice[0]["target_new"]
    assert case.paraphrases == (counterfact_slice[0]["rephrase_prompt"],)
    assert case.unrelated == (counterfact_slice[0]["locality_prompt"],)


def test_zsre_records(tmp_path):
    rows = json.loads((DATA / "zsre" / "dev.json").read_text())[:3]
    path = tmp_path / "z.json"
    path.write_text(json.dumps(rows))
    result = read_edit_file(path, limit=2)
    assert len(result.cases) == 2
    case = result.cases[0][1]
    assert case.edit.prompt == rows[0]["src"] and case.edit.target == rows[0]["alt"]
    assert not case.unrelated[0].startswith("nq question:")


def test_jsonl_and_csv_report_bad_lines(tmp_path):
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text('{"prompt": "a", "target": "b"}\n\n{oops}\n{"prompt": "c"}\n[1]\n')
    result = read_edit_file(jsonl)
    assert [n for n, _ in result.cases] == [1]
    assert [n for n, _ in result.errors] == [3, 4, 5]
    assert "missing field 'target'" in dict(result.errors)[4]
    csv = tmp_path / "e.csv"
    csv.write_text('prompt,target,subject\n"The capital of Veltria is",Osmund,Veltria\nx,y,z,extra\n')
    result = read_edit_file(csv)
    assert result.cases[0][1].edit.subject == "Veltria" and [n for n, _ in result.errors] == [3]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\xff\xfe\x00bad", "not valid UTF-8"),
        (b"[1, 2", "invalid JSON"),
        (b"hello", "cannot tell the format"),
        (b'{"a": 1}', None),
    ],
)
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    if message is None:
        assert read_edit_file(path).errors
        return
    with pytest.raises(InvalidInput, match=message):
        read_edit_file(path)


def test_csv_without_header_columns(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="header"):
        read_edit_file(path)
