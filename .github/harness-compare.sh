#!/usr/bin/env bash
# The comparison step of the composite action (action.yml), also run as is by the tests.
#
# Runs `harness compare` in the current directory and writes, under $OUT_DIR:
#   verdict.md   the markdown verdict (a pull-request comment, starting with its marker)
#   verdict.json the verdict JSON (harness.verdict/1)
#   report.html  the HTML report
#   pr-number    the pull request's number, when $PR_NUMBER is set
# appends the markdown to $GITHUB_STEP_SUMMARY, and sets the step outputs exit-code, verdict
# and dir. It exits 0 whatever the gate decided, so the artifact can be uploaded; the
# action's last step fails the job from exit-code.
#
# Inputs (environment): BASE (default: origin/$GITHUB_BASE_REF on a pull request, else the
# merge-base with the default branch), HEAD_REF (default HEAD), PATTERNS and ARGS (word
# lists), OUT_DIR (default harness-verdict), PR_NUMBER.
set -uo pipefail

out_dir=${OUT_DIR:-harness-verdict}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

base=${BASE:-}
if [ -z "$base" ] && [ -n "${GITHUB_BASE_REF:-}" ]; then
  base="origin/$GITHUB_BASE_REF"
fi
refs=()
if [ -n "$base" ]; then
  refs=("$base" "${HEAD_REF:-HEAD}")
fi
read -r -a patterns <<<"${PATTERNS:-}"
read -r -a args <<<"${ARGS:-}"

harness compare "${refs[@]}" "${patterns[@]}" "${args[@]}" \
  --format markdown --out "$out_dir/verdict.md" --json "$out_dir/verdict.json" --html "$out_dir/report.html" \
  2>"$out_dir/compare.log"
code=$?
cat "$out_dir/compare.log" >&2

if [ "$code" -ge 2 ]; then
  # No verdict: the comment still says what happened, under the same marker.
  {
    echo "<!-- harness-verdict -->"
    echo "## Regression Detector"
    echo
    echo "\`harness compare\` could not run (exit code $code):"
    echo
    echo '```'
    tail -n 20 "$out_dir/compare.log"
    echo '```'
  } >"$out_dir/verdict.md"
fi
if [ -n "${PR_NUMBER:-}" ]; then
  printf '%s\n' "$PR_NUMBER" >"$out_dir/pr-number"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out_dir/verdict.md" >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "exit-code=$code"
    echo "verdict=$out_dir/verdict.json"
    echo "dir=$out_dir"
  } >>"$GITHUB_OUTPUT"
fi
exit 0
