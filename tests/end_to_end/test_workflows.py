"""The CI workflows and the composite action: actionlint-clean, wired together, and running the
same ``harness compare`` the compare tests exercise, on a real repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitproject import FILL_ID, GIT_ENV, PAYLOAD_PLUS_10, Project, set_payload, tiny_project

from harness.reports.markdown import MARKER

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    on = workflow.get("on", workflow.get(True))
    return on if isinstance(on, dict) else {name: None for name in ([on] if isinstance(on, str) else on)}


def actionlint() -> str:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(BIN))
    assert found, "actionlint is not installed: pip install -e '.[test]'"
    return found


def test_workflows_and_the_action_pass_actionlint() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 5
    assert str(WORKFLOWS / "release.yml") in files
    # `uses: ./` in allocations.yml makes actionlint read action.yml and check the inputs given to it.
    done = subprocess.run([actionlint(), "-no-color", *files], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_checks_the_inputs_given_to_the_action(tmp_path: Path) -> None:
    """A misspelt input of the composite action is caught, so the check above means something."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    text = (WORKFLOWS / "allocations.yml").read_text().replace("pr-number:", "pr-numbr:")
    (tmp_path / ".github" / "workflows" / "allocations.yml").write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    done = subprocess.run([actionlint(), "-no-color"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1
    assert 'input "pr-numbr" is not defined' in done.stdout


def test_ci_runs_the_project_tests_on_push_and_pull_request() -> None:
    ci = load(WORKFLOWS / "ci.yml")
    assert {"push", "pull_request"} <= set(triggers(ci))
    steps = ci["jobs"]["test"]["steps"]
    assert any(
        s.get("uses", "").startswith("actions/setup-python@") and s["with"]["python-version"] == "3.11" for s in steps
    )
    assert any(s.get("run") == "bash .ci/run" for s in steps)


def test_the_pull_request_workflow_compares_base_and_head_with_the_action() -> None:
    flow = load(WORKFLOWS / "allocations.yml")
    assert set(triggers(flow)) == {"pull_request"}
    assert flow["permissions"] == {"contents": "read"}
    steps = flow["jobs"]["compare"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    gate = next(s for s in steps if s.get("uses") == "./")
    assert gate["with"]["base"] == "origin/${{ github.base_ref }}"
    assert gate["with"]["head"] == "HEAD"
    assert gate["with"]["pr-number"] == "${{ github.event.pull_request.number }}"


def test_the_comment_workflow_only_reads_the_artifact() -> None:
    flow = load(WORKFLOWS / "allocations-comment.yml")
    run = triggers(flow)["workflow_run"]
    assert run["workflows"] == [load(WORKFLOWS / "allocations.yml")["name"]]
    assert run["types"] == ["completed"]
    assert flow["permissions"]["pull-requests"] == "write"
    assert "contents" not in flow["permissions"]
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    # No checkout and no shell: pull-request code never runs next to the write token.
    assert not any("run" in s or "checkout" in s.get("uses", "") for s in steps)
    download = next(s for s in steps if s["uses"].startswith("actions/download-artifact@"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["github-token"] == "${{ github.token }}"
    action = load(ROOT / "action.yml")
    assert download["with"]["name"] == action["inputs"]["artifact-name"]["default"]
    script = next(s for s in steps if s["uses"].startswith("actions/github-script@"))["with"]["script"]
    assert MARKER in script
    assert "updateComment" in script and "createComment" in script


def test_the_action_runs_compare_and_fails_on_a_regression(tmp_path: Path) -> None:
    """The action's comparison step, run as the action runs it, in a clone of a project whose
    pull-request branch keeps 10 % more per operation: the base comes from GITHUB_BASE_REF."""
    action = load(ROOT / "action.yml")
    assert action["runs"]["using"] == "composite"
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "compare")
    assert step["run"] == 'bash "$GITHUB_ACTION_PATH/.github/harness-compare.sh"'
    last = action["runs"]["steps"][-1]
    assert "steps.compare.outputs.exit-code != '0'" in last["if"]

    upstream = tiny_project(tmp_path / "upstream")
    subprocess.run(
        ["git", "clone", "-q", str(upstream.root), str(tmp_path / "pr")], check=True, env={**os.environ, **GIT_ENV}
    )
    pr = Project.__new__(Project)
    pr.root = tmp_path / "pr"
    pr.git("checkout", "-q", "-b", "bigger-payload")
    set_payload(pr, PAYLOAD_PLUS_10)
    pr.commit("keep a bigger payload")
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env = {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_BASE_REF": "main",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        # The step's env, with the action's defaults for the inputs not given.
        "BASE": "",
        "HEAD_REF": action["inputs"]["head"]["default"],
        "PATTERNS": "",
        "ARGS": "-n 2",
        "OUT_DIR": action["inputs"]["output-dir"]["default"],
        "PR_NUMBER": "12",
    }
    done = subprocess.run(
        ["bash", "-c", step["run"]], cwd=pr.root, env=env, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stderr  # the step records the code; the last step fails the job
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["exit-code"] == "1"
    out_dir = Path(values["dir"])
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "compare.log",
        "pr-number",
        "report.html",
        "verdict.json",
        "verdict.md",
    ]
    verdict = json.loads(Path(values["verdict"]).read_text())
    assert [(r["id"], r["decision"]) for r in verdict["experiments"]] == [(FILL_ID, "regression")]
    assert verdict["baseline"]["git_commit"] == upstream.git("rev-parse", "HEAD")
    assert summary.read_text().startswith(MARKER)
    assert (out_dir / "verdict.md").read_text() == summary.read_text()
    assert (out_dir / "pr-number").read_text() == "12\n"
    assert len(pr.worktrees()) == 1


def test_the_action_step_reports_bad_input_under_the_marker(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    outputs = tmp_path / "outputs"
    env = {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "BASE": "no-such-branch",
        "HEAD_REF": "HEAD",
        "OUT_DIR": "out",
        "GITHUB_OUTPUT": str(outputs),
    }
    done = subprocess.run(
        ["bash", str(ROOT / ".github" / "harness-compare.sh")],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    assert "exit-code=2" in outputs.read_text()
    comment = (project.root / "out" / "verdict.md").read_text()
    assert comment.startswith(MARKER)
    assert "could not run (exit code 2)" in comment and "no-such-branch" in comment


#: A recording stand-in for the GitHub API and the toolkit that actions/github-script provides.
STUB = """
const calls = [];
const github = {
  rest: {
    pulls: {
      get: async (a) => { calls.push(`get ${a.pull_number}`); return { data: { head: { sha: 'abc' } } }; },
    },
    issues: {
      listComments: 'list',
      updateComment: async (a) => {
        calls.push(`update ${a.comment_id}`);
        if (!a.body.startsWith(MARKER)) throw new Error('no marker');
      },
      createComment: async (a) => {
        calls.push(`create ${a.issue_number}`);
        return { data: { html_url: 'u' } };
      },
    },
  },
  paginate: async () => COMMENTS,
};
const context = { repo: { owner: 'o', repo: 'r' } };
const core = { setFailed: () => calls.push('failed'), info: () => {}, notice: () => calls.push('notice') };
const done = () => console.log(JSON.stringify(calls));
const fail = (e) => { console.error(e); process.exit(3); };
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(
    ("pr_number", "comments", "expected"),
    [
        ("12", [{"id": 5, "user": {"type": "Bot"}, "body": MARKER + "\nold"}], ["get 12", "update 5"]),
        ("12", [{"id": 6, "user": {"type": "User"}, "body": "looks fine"}], ["get 12", "create 12"]),
        ("12; rm -rf /", [], ["failed"]),
        ("0x1f", [], ["failed"]),
    ],
)
def test_the_comment_script_validates_the_number_and_updates_one_comment(
    tmp_path: Path, pr_number: str, comments: list[dict[str, Any]], expected: list[str]
) -> None:
    """The github-script step, run by node against a recording stand-in for the GitHub API."""
    flow = load(WORKFLOWS / "allocations-comment.yml")
    step = next(s for job in flow["jobs"].values() for s in job["steps"] if "github-script" in s["uses"])
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "pr-number").write_text(pr_number + "\n")
    (artifact / "verdict.md").write_text(MARKER + "\n## Regression Detector\n")
    program = (
        STUB.replace("MARKER", json.dumps(MARKER)).replace("COMMENTS", json.dumps(comments))
        + f"(async () => {{\n{step['with']['script']}\n}})().then(done, fail);\n"
    )
    env = {
        **os.environ,
        **{k: v.replace("${{ runner.temp }}/harness-verdict", str(artifact)) for k, v in step["env"].items()},
    }
    env["HEAD_SHA"], env["RUN_URL"] = "abc", "https://example.invalid/run"
    done = subprocess.run(["node", "-e", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected


RELEASE = WORKFLOWS / "release.yml"


def test_the_release_publishes_on_a_version_tag_with_the_token_in_one_job_only() -> None:
    flow = load(RELEASE)
    on = triggers(flow)
    assert set(on) == {"push", "pull_request", "workflow_dispatch"}
    assert on["push"] == {"tags": ["v*"]}
    # A change to the build is built and checked before a tag needs it.
    assert {"setup.py", "pyproject.toml", "harness/measure/capture/_native*"} <= set(on["pull_request"]["paths"])
    assert flow["permissions"] == {}
    jobs = flow["jobs"]
    assert jobs["wheels"]["permissions"] == jobs["sdist"]["permissions"] == {"contents": "read"}
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert publish["if"] == "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')"
    assert set(publish["needs"]) == {"wheels", "sdist"}
    # The job with the token runs nothing of the project: it downloads the files and uploads them.
    assert [s["uses"].split("@")[0] for s in publish["steps"]] == [
        "actions/download-artifact",
        "pypa/gh-action-pypi-publish",
    ]
    for name, job in jobs.items():
        for step in job["steps"]:
            if "uses" in step:
                # Pinned to a release, not a branch that moves.
                assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+(\.\d+)*", step["uses"]), f"{name}: {step['uses']}"
            if "checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_the_release_builds_wheels_on_both_architectures_for_every_supported_cpython() -> None:
    wheels = load(RELEASE)["jobs"]["wheels"]
    assert wheels["runs-on"] == "${{ matrix.os }}"
    assert wheels["strategy"]["matrix"]["os"] == ["ubuntu-24.04", "ubuntu-24.04-arm"]
    assert any(s.get("uses", "").startswith("pypa/cibuildwheel@") for s in wheels["steps"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lowest = re.fullmatch(r">=3\.(\d+)", project["project"]["requires-python"])
    assert lowest
    config = project["tool"]["cibuildwheel"]
    # From the lowest CPython the package declares to the newest the release builds, none left out.
    selectors = [re.fullmatch(r"cp3(\d+)-\*", s) for s in config["build"]]
    assert all(selectors), config["build"]  # CPython only, and not the free-threaded builds (cp313t)
    minors = [int(s[1]) for s in selectors if s]
    assert minors == list(range(int(lowest[1]), max(minors) + 1))
    assert max(minors) >= 14
    # What cibuildwheel makes of the config (it refuses an option it does not know).
    listed = subprocess.run(
        [str(BIN / "cibuildwheel"), "--print-build-identifiers", "--platform", "linux", "--archs", "x86_64,aarch64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split()) == sorted(
        f"cp3{minor}-{libc}_{arch}"
        for minor in minors
        for libc in ("manylinux", "musllinux")
        for arch in ("x86_64", "aarch64")
    )
    assert config["environment"] == {"HARNESS_REQUIRE_NATIVE": "1"}
    assert config["test-command"] == "python {project}/.ci/wheel-check.py"


HISTORY = WORKFLOWS / "allocation-history.yml"
HISTORY_SCRIPT = ".github/harness-history.sh"


def expand(env: dict[str, Any], contexts: dict[str, str]) -> dict[str, str]:
    """A step's env with its ``${{ ... }}`` expressions replaced, as the runner replaces them."""
    expanded = {}
    for key, value in env.items():
        text = str(value)
        for name, replacement in contexts.items():
            text = text.replace("${{ " + name + " }}", replacement)
        assert "${{" not in text, f"{key}: {text}"
        expanded[key] = text
    return expanded


def writes(permissions: Any) -> bool:
    if permissions in (None, "read-all", {}):
        return False
    if permissions == "write-all":
        return True
    assert isinstance(permissions, dict), permissions
    return "write" in permissions.values()


def test_the_history_workflow_runs_only_on_pushes_to_the_default_branch() -> None:
    flow = load(HISTORY)
    on = triggers(flow)
    assert set(on) == {"push", "workflow_dispatch"}
    assert on["push"] == {"branches": ["main"]}
    assert not {"pull_request", "pull_request_target", "workflow_run"} & set(on)
    # Two runs never write the branch at once, and a queued run is not dropped halfway.
    assert flow["concurrency"] == {"group": "allocation-history", "cancel-in-progress": False}
    measure = flow["jobs"]["measure"]
    assert measure["if"] == "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    assert flow["jobs"]["publish"]["needs"] == "measure"


def test_the_write_token_is_only_in_the_job_that_runs_no_project_code() -> None:
    flow = load(HISTORY)
    assert not writes(flow.get("permissions"))
    writers, runners = [], []
    for name, job in flow["jobs"].items():
        assert "permissions" in job, f"{name} must say its permissions"
        steps = job["steps"]
        runs_code = any(
            "checkout" in s.get("uses", "")
            or s.get("uses", "").startswith("./")
            or "harness" in s.get("run", "")
            or HISTORY_SCRIPT in s.get("run", "")
            for s in steps
        )
        if runs_code:
            runners.append(name)
        if writes(job["permissions"]):
            writers.append(name)
            assert not runs_code, f"{name} holds a write token and checks out or runs the project's code"
    assert writers == ["publish"]
    assert runners == ["measure"]  # what the check looks for is there, in the other job
    assert flow["jobs"]["publish"]["permissions"] == {"contents": "write", "pages": "write", "id-token": "write"}
    assert flow["jobs"]["publish"]["environment"]["name"] == "github-pages"

    measure = flow["jobs"]["measure"]
    assert measure["permissions"] == {"contents": "read"}
    steps = measure["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert any(s.get("run") == f"bash {HISTORY_SCRIPT}" for s in steps)
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert {"actions/upload-artifact", "actions/upload-pages-artifact"} <= set(uses)
    publish = [s.get("uses", "").split("@")[0] for s in flow["jobs"]["publish"]["steps"]]
    assert publish == ["actions/download-artifact", "", "actions/deploy-pages"]


def test_a_history_whose_newest_commit_failed_is_still_kept_and_published() -> None:
    # harness history exits 1 then: the measure job fails, and its store (which lists the failure) is not lost.
    flow = load(HISTORY)
    measure = flow["jobs"]["measure"]
    assert measure["outputs"] == {"store": "${{ steps.history.outputs.store }}"}
    uploads = [s for s in measure["steps"] if s.get("uses", "").startswith(("actions/upload-",))]
    assert len(uploads) == 2
    assert {s.get("if") for s in uploads} == {"${{ !cancelled() && steps.history.outputs.store != '' }}"}
    assert flow["jobs"]["publish"]["if"] == "${{ !cancelled() && needs.measure.outputs.store != '' }}"


def run_history_workflow(project: Project, runner: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The measure step of the workflow, run in ``project`` on a runner whose temporary directory is ``runner``."""
    flow = load(HISTORY)
    step = next(s for s in flow["jobs"]["measure"]["steps"] if s.get("id") == "history")
    assert step["run"] == f"bash {HISTORY_SCRIPT}"
    runner.mkdir(parents=True, exist_ok=True)
    full = {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_OUTPUT": str(runner / "outputs"),
        "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
        **expand(flow["env"], {}),
        **expand(step["env"], {"runner.temp": str(runner)}),
        **env,
    }
    # The script of the checkout: here, this repository's.
    return subprocess.run(
        ["bash", str(ROOT / HISTORY_SCRIPT)], cwd=project.root, env=full, capture_output=True, text=True, timeout=300
    )


def run_publish_step(runner: Path, remote: Path, sha: str) -> subprocess.CompletedProcess[str]:
    """The publish job's git step, with the remote a local repository and no token."""
    flow = load(HISTORY)
    step = next(s for s in flow["jobs"]["publish"]["steps"] if "run" in s)
    assert remote.name.endswith(".git")
    contexts = {
        "runner.temp": str(runner),
        "github.server_url": str(remote.parent),
        "github.repository": remote.name.removesuffix(".git"),
        "github.token": "",
        "github.sha": sha,
    }
    env = {**os.environ, **GIT_ENV, **expand(step["env"], contexts)}
    return subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60)


def test_the_history_workflow_measures_restores_and_publishes_the_store(tmp_path: Path) -> None:
    """The measure step and the publish step, run as the workflow runs them, twice: the second
    run restores the store the first one pushed to the branch and measures the new commit only."""
    upstream = tiny_project(tmp_path / "upstream.git")
    commits = [upstream.git("rev-parse", "HEAD")]
    for number in (2, 3):
        upstream.write("notes.txt", f"note {number}\n")
        commits.append(upstream.commit(f"change {number}"))
    clone = Project.clone(upstream, tmp_path / "clone")

    # The first run: no branch yet, fewer commits than the limit, so the whole history.
    first = tmp_path / "runner-1"
    done = run_history_workflow(clone, first, HISTORY_ARGS="-n 2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no branch allocation-history on origin: the store starts empty" in done.stdout
    assert "history of 3 commits (HEAD): 3 to measure" in done.stdout
    outputs = dict(line.split("=", 1) for line in (first / "outputs").read_text().splitlines())
    store = first / "allocation-history"
    assert outputs == {"store": str(store), "range": "HEAD"}
    index = json.loads((store / "index.json").read_text())
    assert index["schema"] == "harness.history/1"
    assert [entry["sha"] for entry in index["commits"]] == commits
    assert all((store / f"{sha}.json").is_file() for sha in commits)
    assert (first / "summary.md").read_text().startswith("## Allocation history")
    assert (store / "index.html").is_file()

    published = run_publish_step(first, upstream.root, commits[-1])
    assert published.returncode == 0, published.stdout + published.stderr
    branch = upstream.git("rev-list", "--parents", "allocation-history").splitlines()
    assert len(branch) == 1 and len(branch[0].split()) == 1  # an orphan: the store's history only
    files = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
    assert upstream.git("ls-tree", "-r", "--name-only", "allocation-history").splitlines() == files
    assert upstream.git("log", "-1", "--format=%s", "allocation-history") == f"allocation history at {commits[-1]}"
    assert upstream.git("rev-parse", "main") == commits[-1]

    # The second run, on a fresh runner after one more commit: the store comes from the branch.
    upstream.write("notes.txt", "note 4\n")
    commits.append(upstream.commit("change 4"))
    clone.git("pull", "-q", "--ff-only")
    second = tmp_path / "runner-2"
    done = run_history_workflow(clone, second, HISTORY_ARGS="-n 2", HISTORY_LIMIT="2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored the store from origin allocation-history" in done.stdout
    assert f"history of 2 commits ({commits[2]}^..HEAD): 1 to measure" in done.stdout
    assert f"measured {commits[3][:10]}  change 4" in done.stdout
    store = second / "allocation-history"
    assert [entry["sha"] for entry in json.loads((store / "index.json").read_text())["commits"]] == commits

    published = run_publish_step(second, upstream.root, commits[-1])
    assert published.returncode == 0, published.stdout + published.stderr
    branch = upstream.git("rev-list", "--parents", "allocation-history").splitlines()
    assert len(branch) == 2 and branch[0].split()[1] == branch[1].split()[0]
    assert f"{commits[3]}.json" in upstream.git("ls-tree", "--name-only", "allocation-history").splitlines()
    again = run_publish_step(second, upstream.root, commits[-1])
    assert again.returncode == 0, again.stderr
    assert "nothing to push" in again.stdout
    assert len(upstream.git("rev-list", "allocation-history").splitlines()) == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HISTORY_LIMIT": "ten"}, "HISTORY_LIMIT must be a positive number, not 'ten'"),
        ({"HISTORY_REMOTE": "no-such-remote"}, "cannot read the branches of no-such-remote"),
    ],
)
def test_the_history_script_stops_on_bad_input(tmp_path: Path, env: dict[str, str], message: str) -> None:
    project = tiny_project(tmp_path / "p")
    done = run_history_workflow(project, tmp_path / "runner", **env)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "runner" / "allocation-history" / "index.json").exists()
