"""``harness export``: a real run's results in Bencher's and github-action-benchmark's formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.commits.history import Entry, HistoryStore
from harness.store.results import read_results

ROOT = Path(__file__).resolve().parents[2]
#: Bencher Metric Format's published JSON Schema (https://bencher.dev/bmf.json), as it reads.
BMF_SCHEMA = {
    "$id": "https://bencher.dev/bmf.json",
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "patternProperties": {
        ".+": {
            "type": "object",
            "patternProperties": {
                ".+": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "lower_value": {"type": "number"},
                        "upper_value": {"type": "number"},
                    },
                    "required": ["value"],
                }
            },
        }
    },
}


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "harness", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "results.json"
    done = harness("run", "flow_table", "-n", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


def _goals(results: Path) -> dict[str, dict[str, list[float]]]:
    """{experiment: {"phase.goal": [value per replicate]}} read from the results file itself."""
    data = json.loads(results.read_text())
    out: dict[str, dict[str, list[float]]] = {}
    for experiment in data["experiments"]:
        for goal in experiment["goals"]:
            phase, _, name = goal.rpartition(".")
            for trial in (t for t in data["trials"] if t["experiment"] == experiment["id"]):
                for measured in trial["phases"]:
                    if phase in ("", measured["name"]):
                        key = f"{measured['name']}.{name}"
                        out.setdefault(experiment["id"], {}).setdefault(key, []).append(measured["metrics"][name])
    return out


def test_the_bencher_export_validates_and_carries_each_goal_s_mean_and_range(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "bmf.json"
    done = harness("export", str(results), "--format", "bmf", "--out", str(out))
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    jsonschema.validate(data, BMF_SCHEMA)
    goals = _goals(results)
    assert data.keys() == goals.keys()
    for experiment, measures in goals.items():
        assert data[experiment].keys() == measures.keys()
        for measure, values in measures.items():
            assert len(measure) <= 64  # Bencher's limit on a measure's name
            assert data[experiment][measure] == {
                "value": pytest.approx(sum(values) / len(values)),
                "lower_value": min(values),
                "upper_value": max(values),
            }


def test_the_github_action_benchmark_export_has_the_fields_the_action_reads(results: Path) -> None:
    done = harness("export", str(results), "--format", "github-action-benchmark")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    goals = _goals(results)
    assert len(data) == sum(len(measures) for measures in goals.values())
    for entry in data:
        # customSmallerIsBetter reads name, unit and value (a number); range and extra are shown.
        assert isinstance(entry["name"], str) and isinstance(entry["unit"], str)
        assert isinstance(entry["value"], int | float) and not isinstance(entry["value"], bool)
        assert isinstance(entry["range"], str) and isinstance(entry["extra"], str)
        experiment, measure = entry["name"].rsplit(" ", 1)
        values = goals[experiment][measure]
        assert entry["value"] == pytest.approx(sum(values) / len(values))
    assert len({entry["name"] for entry in data}) == len(data)


@pytest.fixture
def store(results: Path, tmp_path: Path) -> Path:
    """A history store of two commits, the newer one written first, each holding the real run's results."""
    history = HistoryStore(tmp_path / "history")
    measured = read_results(results)
    history.add(Entry("b" * 40, "second", "2026-11-02T10:00:00+01:00"), measured)
    history.add(Entry("a" * 40, "first", "2026-11-01T10:00:00+01:00"), measured)
    history.add(Entry("c" * 40, "broken", "2026-11-03T10:00:00+01:00", error="build of cccccccccc failed"), None)
    return history.directory


def test_a_history_exports_each_measured_commit_oldest_first_in_both_formats(
    results: Path, store: Path, tmp_path: Path
) -> None:
    done = harness("export", str(store), "--format", "bmf")
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [(r["commit"], r["subject"]) for r in reports] == [("a" * 40, "first"), ("b" * 40, "second")]
    for report in reports:
        jsonschema.validate(report["results"], BMF_SCHEMA)
        assert report["results"].keys() == _goals(results).keys()

    # Without a remote, the dashboard has no page of the repository to link.
    alone = json.loads(harness("export", str(store), "--format", "github-action-benchmark").stdout)
    assert alone["repoUrl"] == "" and {e["commit"]["url"] for e in alone["entries"]["harness"]} == {""}
    # With one, repoUrl and each commit's url are the remote's web pages.
    subprocess.run(["git", "init", "-q", str(store)], check=True)
    subprocess.run(["git", "-C", str(store), "remote", "add", "origin", "git@github.com:octo/lib.git"], check=True)
    script = tmp_path / "data.js"
    done = harness("export", str(store / "index.json"), "--format", "github-action-benchmark", "--out", str(script))
    assert done.returncode == 0, done.stderr
    prefix = "window.BENCHMARK_DATA = "
    text = script.read_text()
    assert text.startswith(prefix)
    data = json.loads(text[len(prefix) :])
    assert isinstance(data["lastUpdate"], int) and isinstance(data["repoUrl"], str)
    (suite,) = data["entries"].values()
    # The dashboard reads each entry's commit (id, message, timestamp, url), date (ms since the epoch:
    # 2026-11-01 09:00 UTC), tool and benches.
    assert [entry["commit"]["id"] for entry in suite] == ["a" * 40, "b" * 40]
    assert suite[0]["date"] == 1793523600000 and suite[0]["tool"] == "customSmallerIsBetter"
    assert {"id", "message", "timestamp", "url"} <= suite[0]["commit"].keys()
    assert data["repoUrl"] == "https://github.com/octo/lib"
    assert [entry["commit"]["url"] for entry in suite] == [f"https://github.com/octo/lib/commit/{c * 40}" for c in "ab"]
    single = json.loads(harness("export", str(results), "--format", "github-action-benchmark").stdout)
    assert [entry["benches"] for entry in suite] == [single, single]


def test_an_empty_history_store_is_one_line(tmp_path: Path) -> None:
    done = harness("export", str(tmp_path), "--format", "bmf")
    assert done.returncode == 2
    assert done.stderr.strip() == f"harness: error: {tmp_path}: no history here (no index.json, or no commit in it)"


def test_a_missing_results_file_is_one_line() -> None:
    done = harness("export", "no-such-results.json", "--format", "bmf")
    assert done.returncode == 2
    assert done.stderr.strip() == "harness: error: no-such-results.json: no such file"
