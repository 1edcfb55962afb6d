#!/usr/bin/env bash
# The measuring step of the allocation-history workflow (workflows/allocation-history.yml),
# also run as is by the tests.
#
# In the current directory (a clone of the project with its history):
#   1. restores the history store from the branch $HISTORY_BRANCH of $HISTORY_REMOTE, when
#      that is set, the branch exists and the store has no index.json yet (a branch that does
#      not exist leaves the store empty; a remote that cannot be read is an error);
#   2. runs `harness history RANGE $HISTORY_PATTERNS --store $HISTORY_STORE $HISTORY_ARGS`,
#      which measures the commits of RANGE the store does not hold yet;
#   3. appends the output to $GITHUB_STEP_SUMMARY and sets the step outputs store and range.
# It exits with the code of harness history (0 done, 1 the newest commit was not measured,
# 2 bad input); the outputs are set whatever the code.
#
# Inputs (environment): HISTORY_STORE (default reports/history), HISTORY_BRANCH (default
# none: no restore), HISTORY_REMOTE (default origin), HISTORY_RANGE (a range of git
# rev-list; default: the last HISTORY_LIMIT first-parent commits of HISTORY_HEAD),
# HISTORY_LIMIT (default 30), HISTORY_HEAD (default HEAD), HISTORY_PATTERNS and HISTORY_ARGS
# (word lists).
set -uo pipefail

store=${HISTORY_STORE:-reports/history}
mkdir -p "$store"
store=$(cd "$store" && pwd)
branch=${HISTORY_BRANCH:-}
remote=${HISTORY_REMOTE:-origin}
head=${HISTORY_HEAD:-HEAD}
limit=${HISTORY_LIMIT:-30}
case $limit in
  '' | *[!0-9]* | 0)
    echo "harness-history: HISTORY_LIMIT must be a positive number, not '$limit'" >&2
    exit 2
    ;;
esac

if [ -n "$branch" ] && [ ! -e "$store/index.json" ]; then
  found=0
  git ls-remote --exit-code --heads "$remote" "refs/heads/$branch" >/dev/null || found=$?
  if [ "$found" -eq 0 ]; then
    git fetch -q --no-tags "$remote" "refs/heads/$branch" || exit 2
    git archive FETCH_HEAD | tar -x -C "$store" || exit 2
    echo "restored the store from $remote $branch ($(git rev-parse --short FETCH_HEAD))"
  elif [ "$found" -eq 2 ]; then
    echo "no branch $branch on $remote: the store starts empty"
  else
    echo "harness-history: cannot read the branches of $remote (git ls-remote exited with $found)" >&2
    exit 2
  fi
fi

range=${HISTORY_RANGE:-}
if [ -z "$range" ]; then
  oldest=$(git rev-list --first-parent --max-count="$limit" "$head" | tail -n 1)
  if [ -z "$oldest" ]; then
    echo "harness-history: no commits at $head" >&2
    exit 2
  fi
  # The whole history when it is no longer than the limit: the root has no parent to exclude.
  if git rev-parse -q --verify "$oldest^" >/dev/null; then
    range="$oldest^..$head"
  else
    range=$head
  fi
fi
read -r -a patterns <<<"${HISTORY_PATTERNS:-}"
read -r -a args <<<"${HISTORY_ARGS:-}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
harness history "$range" "${patterns[@]}" --store "$store" "${args[@]}" | tee "$log"
code=${PIPESTATUS[0]}

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "## Allocation history"
    echo
    echo "\`harness history $range\` exited with code $code:"
    echo
    echo '```'
    cat "$log"
    echo '```'
  } >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "store=$store"
    echo "range=$range"
  } >>"$GITHUB_OUTPUT"
fi
exit "$code"
