"""The web page of a commit, from the forms a GitHub or GitLab remote takes."""

from __future__ import annotations

import pytest

from harness.git import commit_url, web_url

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("remote", "page"),
    [
        ("https://github.com/owner/repo.git", "https://github.com/owner/repo/commit/"),
        ("https://github.com/owner/repo", "https://github.com/owner/repo/commit/"),
        ("https://github.com/owner/repo/", "https://github.com/owner/repo/commit/"),
        ("git@github.com:owner/repo.git", "https://github.com/owner/repo/commit/"),
        ("ssh://git@github.com/owner/repo.git", "https://github.com/owner/repo/commit/"),
        ("https://user:secret@github.com/owner/repo.git", "https://github.com/owner/repo/commit/"),
        ("https://gitlab.com/group/sub/repo", "https://gitlab.com/group/sub/repo/-/commit/"),
        ("git@gitlab.com:group/sub/repo.git", "https://gitlab.com/group/sub/repo/-/commit/"),
        ("ssh://git@gitlab.example.org:2222/group/repo.git", "https://gitlab.example.org/group/repo/-/commit/"),
    ],
)
def test_a_github_or_gitlab_remote_links_to_the_commit(remote: str, page: str) -> None:
    assert commit_url(web_url(remote), SHA) == page + SHA


@pytest.mark.parametrize(
    "remote", [None, "", "/srv/git/repo.git", "file:///srv/git/repo", "https://example.org/owner/repo", "github.com"]
)
def test_a_local_or_unknown_remote_links_to_nothing(remote: str | None) -> None:
    assert web_url(remote) is None
    assert commit_url(web_url(remote), SHA) is None
