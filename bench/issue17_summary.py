"""Medians over the runs of bench/issue17.sh: one line per issue-17 target.

    .venv/bin/python bench/issue17_summary.py var/issue17-<time>.jsonl
"""

from __future__ import annotations

import json
import statistics
import sys


def main(path: str) -> None:
    runs: dict[str, list[dict]] = {}
    for line in open(path, encoding="utf-8"):
        record = json.loads(line)
        runs.setdefault(record["bench"], []).append(record)

    def median(bench, *keys):
        values = []
        for record in runs.get(bench, []):
            for key in keys:
                record = record[key]
            values.append(record)
        return statistics.median(values) if values else float("nan"), values

    rows = [
        ("GET block p50 ms", ("api_reads", "detail", "api", "p50_ms")),
        ("bare + SELECT p50 ms", ("api_reads", "bare_select", "p50_ms")),
        ("GET block / bare (<= 1.5)", ("api_reads", "to_bare", "detail_api", "ratio_p50")),
        ("GET list p50 ms", ("api_reads", "list", "api", "p50_ms")),
        ("bare list (same statements) p50 ms", ("api_reads", "bare_list_page", "p50_ms")),
        ("GET list / bare (<= 1.5)", ("api_reads", "to_bare", "list_api", "ratio_p50")),
        ("bare COUNT + SELECT p50 ms", ("api_reads", "bare_list", "p50_ms")),
        ("GET list / bare COUNT + SELECT", ("api_reads", "to_bare", "list_api_vs_count_select", "ratio_p50")),
        ("304 p50 ms", ("api_reads", "not_modified", "p50_ms")),
        ("bare version 304 p50 ms", ("api_reads", "bare_version", "p50_ms")),
        ("304 / bare (<= 1.2)", ("api_reads", "to_bare", "not_modified_api", "ratio_p50")),
        ("floor (JSON 404) p50 ms", ("api_reads", "floor", "p50_ms")),
        ("POST diffs p50 ms", ("proposals", "api", "p50_ms")),
        ("bare SELECT+INSERT p50 ms", ("proposals", "bare", "p50_ms")),
        ("POST / bare (<= 1.3)", ("proposals", "ratio_to_bare_p50")),
        ("1 KB proposal p50 ms", ("proposals", "size", "small", "p50_ms")),
        ("290 KB proposal p50 ms", ("proposals", "size", "big", "p50_ms")),
        ("290 KB / 1 KB (<= 2)", ("proposals", "size", "ratio_p50")),
        ("290 KB review page ms", ("proposals", "size", "review_page_ms", "big")),
        ("290 KB review word-diff work", ("proposals", "size", "review_work", "big")),
        ("approvals serial /s", ("approvals", "serial", "per_s")),
        ("raw statements serial /s", ("approvals", "raw", "per_s")),
        ("approvals service / raw (<= 1.3)", ("approvals", "ratio_service_to_raw")),
    ]
    caches = sorted({record.get("cache", "per-process") for records in runs.values() for record in records})
    print(f"app cache: {', '.join(caches)} (redis: CACHE_URL was set, as deployed; per-process: it was not)")
    for title, (bench, *keys) in rows:
        value, values = median(bench, *keys)
        print(f"{title:34} median {value:9.2f}   runs {', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main(sys.argv[1])
