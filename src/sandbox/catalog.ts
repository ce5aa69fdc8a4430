/**
 * Tool bundles a card can name in `tools`. A name that is not here is looked up
 * as a single program on the host's PATH. `main` must exist on the host; the
 * other programs are taken where present (distributions split some bundles).
 */
export interface ToolBundle {
  main: string;
  programs: string[];
  /** Folders the bundle reads at run time (besides shared libraries), found from the main program's real path; missing ones are skipped. */
  dirs?: (mainPath: string) => string[];
  /** Debian package that provides it, for the install hint. */
  debian: string;
}

const COREUTILS = [
  "arch", "b2sum", "base32", "base64", "basename", "basenc", "cat", "chcon", "chgrp", "chmod", "chown", "cksum",
  "comm", "cp", "csplit", "cut", "date", "dd", "df", "dir", "dircolors", "dirname", "du", "echo", "env", "expand",
  "expr", "factor", "false", "fmt", "fold", "groups", "head", "hostid", "id", "install", "join", "link", "ln",
  "logname", "ls", "md5sum", "mkdir", "mkfifo", "mknod", "mktemp", "mv", "nice", "nl", "nohup", "nproc", "numfmt",
  "od", "paste", "pathchk", "pinky", "pr", "printenv", "printf", "ptx", "pwd", "readlink", "realpath", "rm", "rmdir",
  "runcon", "seq", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "shred", "shuf", "sleep", "sort",
  "split", "stat", "stdbuf", "stty", "sum", "sync", "tac", "tail", "tee", "test", "[", "timeout", "touch", "tr",
  "true", "truncate", "tsort", "tty", "uname", "unexpand", "uniq", "unlink", "users", "vdir", "wc", "who", "whoami", "yes",
];

export const BUNDLES: Record<string, ToolBundle> = {
  sh: { main: "sh", programs: [], debian: "dash" },
  bash: { main: "bash", programs: [], debian: "bash" },
  coreutils: { main: "ls", programs: COREUTILS, debian: "coreutils" },
  findutils: { main: "find", programs: ["xargs"], debian: "findutils" },
  grep: { main: "grep", programs: ["egrep", "fgrep"], debian: "grep" },
  sed: { main: "sed", programs: [], debian: "sed" },
  awk: { main: "awk", programs: [], debian: "mawk" },
  diffutils: { main: "diff", programs: ["cmp", "diff3", "sdiff"], debian: "diffutils" },
  patch: { main: "patch", programs: [], debian: "patch" },
  tar: { main: "tar", programs: [], debian: "tar" },
  gzip: { main: "gzip", programs: ["gunzip", "zcat"], debian: "gzip" },
  git: {
    main: "git",
    programs: [],
    dirs: (git) => [git.replace(/\/bin\/git$/, "/lib/git-core"), git.replace(/\/bin\/git$/, "/share/git-core")],
    debian: "git",
  },
  rg: { main: "rg", programs: [], debian: "ripgrep" },
  curl: { main: "curl", programs: [], debian: "curl" },
  jq: { main: "jq", programs: [], debian: "jq" },
  make: { main: "make", programs: [], debian: "make" },
  node: { main: "node", programs: [], debian: "nodejs" },
  // npm is a script of node's (name node too): its whole package folder comes along.
  npm: { main: "npm", programs: ["npx"], dirs: (npm) => [npm.replace(/\/bin\/npm-cli\.js$/, "")], debian: "npm" },
  python3: {
    main: "python3",
    programs: [],
    dirs: (python) => [python.replace(/\/bin\/(python3\.\d+)$/, "/lib/$1"), python.replace(/\/bin\/python3\.\d+$/, "/lib/python3/dist-packages")],
    debian: "python3",
  },
};
