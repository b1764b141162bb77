"""The import report keeps its items on disk as they come: what a user sees (the summary, the
--report JSON) is the same as when they were a list, and a run's memory does not hold them."""

import json

from importing.report import CREATED, NOTED, SKIPPED, ImportReport, ItemLog, ReportItem, format_summary


def _report(n: int) -> ImportReport:
    report = ImportReport(source="test")
    for i in range(n):
        report.add(ReportItem(kind="block", key=f"learner-{i}/student", action=CREATED,
                              versions_added=2, warnings=["over char_limit: 5 > 3"] if i % 2 else []))
    report.add(ReportItem(kind="block", key="x/bad label", action=SKIPPED, reason="invalid label"))
    report.add(ReportItem(kind="note", key="agents.json", action=NOTED, reason="ignored field ✓"))
    return report


def test_the_report_file_holds_every_item_in_order(tmp_path):
    report = _report(1000)
    path = tmp_path / "report.json"
    report.write_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [i["key"] for i in data["items"][:2]] == ["learner-0/student", "learner-1/student"]
    assert len(data["items"]) == 1002
    assert data["items"][-1] == {"kind": "note", "key": "agents.json", "action": "noted",
                                 "reason": "ignored field ✓", "source": "", "source_key": "",
                                 "versions_added": 0, "versions_unchanged": 0, "warnings": []}
    assert data["counts"]["block"] == {"created": 1000, "skipped": 1}
    assert data["counts"]["version"] == {"created": 2000, "unchanged": 0}
    assert data["skipped_reasons"] == {"invalid label (block)": 1}
    assert data["warnings"] == {"over char_limit": 500}
    assert data == report.to_dict()  # the streamed file says what the in-memory form says


def test_a_report_without_items_is_valid_json(tmp_path):
    path = tmp_path / "empty.json"
    ImportReport(source="test").write_json(path)
    assert json.loads(path.read_text())["items"] == []


def test_the_summary_reads_the_items_back():
    summary = format_summary(_report(3))
    assert "invalid label (block)" in summary
    assert "agents.json: ignored field ✓" in summary
    assert "over char_limit" in summary


def test_items_appended_while_a_reader_iterates_are_kept_and_seen_after():
    log = ItemLog()
    for i in range(3):
        log.append(ReportItem(kind="learner", key=f"l{i}", action=CREATED))
    reader = iter(log)
    assert next(reader).key == "l0"
    log.append(ReportItem(kind="learner", key="late", action=SKIPPED))
    assert [i.key for i in reader] == ["l1", "l2", "late"]
    assert [i.key for i in log] == ["l0", "l1", "l2", "late"] and len(log) == 4
