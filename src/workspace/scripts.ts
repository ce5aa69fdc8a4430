/**
 * The shell programs paddock runs inside an inspection sandbox. They print
 * only what the host asked for, framed so that no file name or content can be
 * taken for framing: sections with byte counts, or one line per file with every
 * agent-chosen string in base64. `set -f` everywhere: a file name is never a glob.
 */

/**
 * git with nothing of the workspace's own config able to start a program
 * paddock did not choose (inside the sandbox this is about hangs, not escape),
 * and `checkStat=minimal`: inside, files show another owner than in the index.
 */
const GIT_OPTIONS = "-c core.fsmonitor=false -c core.hooksPath=/dev/null -c core.untrackedCache=false -c diff.external= -c 'safe.directory=*' -c core.checkStat=minimal -c core.quotePath=false";
const GIT = `g() { git ${GIT_OPTIONS} "$@"; }`;

/**
 * Into the workspace: /workspace in an inspection sandbox and in an agent's pod; $PADDOCK_WORKSPACE where a runtime
 * keeps it elsewhere. `W` is its real path.
 */
const CD_WORKSPACE = `W=$(realpath -e -- "\${PADDOCK_WORKSPACE:-/workspace}") && cd -- "$W" || exit 70`;

/** `emit NAME FILE`: a header line "NAME BYTES", then the file's bytes. */
const EMIT = `emit() { printf '%s %s\\n' "$1" "$(wc -c < "$2")"; cat -- "$2"; }`;

/**
 * The workspace's state: with a readable repository at its root, `git status`
 * (ignored files included) and the type, size and time of each path it names;
 * otherwise the type, size and time of every file (links not followed).
 */
export const SNAPSHOT = `set -f
${GIT}
${EMIT}
${CD_WORKSPACE}
: > /tmp/err
if [ -e .git ] && g rev-parse --git-dir > /dev/null 2>> /tmp/err; then
  if g status --porcelain=v1 -z --untracked-files=all --ignored=traditional > /tmp/status 2>> /tmp/err; then
    sed -z 's/^...//; s|/$||' /tmp/status | xargs -0 -r stat --printf '%F\\t%s\\t%.9Y\\t%n\\0' -- > /tmp/stat 2> /dev/null
    emit status /tmp/status
    emit stat /tmp/stat
    exit 0
  fi
fi
find . -path ./.git -prune -o ! -path . -printf '%y\\t%s\\t%T@\\t%P\\0' > /tmp/files 2>> /tmp/err
emit files /tmp/files
head -c 4000 /tmp/err > /tmp/err.head
emit err /tmp/err.head
`;

/**
 * Reads the files named (NUL-separated on stdin, relative to /workspace) one
 * line each: "file PATH SIZE CONTENT", "link PATH TARGET", "large PATH SIZE",
 * "special PATH TYPE", "outside PATH" (it resolves out of the workspace),
 * "missing PATH"; PATH, CONTENT and TARGET in base64. A link is never
 * followed; a FIFO, socket or device is never opened; a file over the cap is
 * never read; a file swapped for a FIFO after the check is cut off by timeout.
 */
const READ_EACH = `set -f
cap=$1; shift
${CD_WORKSPACE}
for p do
  e=$(printf %s "$p" | base64 -w0)
  if [ -L "$p" ]; then
    printf 'link %s ' "$e"; readlink -n -- "$p" | head -c 4096 | base64 -w0; echo
  elif [ ! -e "$p" ]; then
    printf 'missing %s\\n' "$e"
  else
    case "$(realpath -e -- "$p" 2> /dev/null)" in
      "$W"/*) ;;
      *) printf 'outside %s\\n' "$e"; continue ;;
    esac
    if [ -f "$p" ]; then
      s=$(stat -c %s -- "$p")
      if [ "$s" -gt "$cap" ]; then printf 'large %s %s\\n' "$e" "$s"
      else printf 'file %s %s ' "$e" "$s"; timeout -s KILL 5 head -c "$cap" -- "$p" | base64 -w0; echo; fi
    else
      printf 'special %s %s\\n' "$e" "$(stat -c %F -- "$p" | base64 -w0)"
    fi
  fi
done
`;

/** argv for READ_EACH over stdin: `sh -c 'xargs ...' READ_EACH CAP`. */
export function readFilesArgv(capBytes: number): string[] {
  return ["sh", "-c", 'exec xargs -0 -r sh -c "$0" paddock-read "$1"', READ_EACH, String(capBytes)];
}

/**
 * The workspace's diff against HEAD, then each new file (untracked, not ignored) as added; exit 3 when it is no
 * repository. A new file's diff is git's own against /dev/null: a link shows its target, never what it points to.
 */
export const DIFF = `set -f
${GIT}
${CD_WORKSPACE}
[ -e .git ] && g rev-parse --verify -q HEAD > /dev/null || exit 3
g diff --no-ext-diff --no-textconv --no-color HEAD -- . || exit 1
g ls-files --others --exclude-standard -z -- . | xargs -0 -r -n 1 git ${GIT_OPTIONS} diff --no-index --no-ext-diff --no-textconv --no-color -- /dev/null
exit 0
`;

/**
 * A worker's clone: the repository at /workspace (read-only) cloned into
 * /output, on a new branch; prints the commit it starts from.
 * $1: the branch, $2: the repository's host path (the clone's origin), $3: the commit (or HEAD).
 */
export const CLONE = `set -f
${GIT}
g clone -q --no-hardlinks -- /workspace /output || exit 1
cd /output || exit 70
g checkout -q -b "$1" "$3" || exit 1
g remote set-url origin "$2"
g rev-parse HEAD
`;

/**
 * In the repository's git folder (at /workspace, writable): makes branch $1 at
 * commit $2, refused when it exists.
 */
export const CREATE_BRANCH = `set -f
${GIT}
g --git-dir=/workspace rev-parse -q --verify "refs/heads/$1" > /dev/null && { echo "branch $1 exists already" >&2; exit 4; }
g --git-dir=/workspace update-ref "refs/heads/$1" "$2" ""
`;

/**
 * In a worker's clone (read-only): a bundle on stdout of branch $1's commits
 * since $2; exit 3 when there are none.
 */
export const BUNDLE = `set -f
${GIT}
${CD_WORKSPACE}
[ "$(g rev-list --count "refs/heads/$1" --not "$2" 2> /dev/null || echo 0)" -gt 0 ] || exit 3
g bundle create - "refs/heads/$1" --not "$2"
`;

/**
 * In the repository's git folder (at /workspace, writable): sets branch $1
 * to the bundle on stdin. Nothing of the worker's clone is visible here.
 */
export const IMPORT_BUNDLE = `set -f
${GIT}
cat > /tmp/work.bundle || exit 1
g --git-dir=/workspace bundle verify -q /tmp/work.bundle > /dev/null || exit 5
g --git-dir=/workspace fetch -q --no-tags --no-write-fetch-head /tmp/work.bundle "+refs/heads/$1:refs/heads/$1"
`;
