/**
 * Looking at what an agent wrote: changed files, file contents, diffs, and
 * workers' own clones. Every read and every git command on an agent-writable
 * folder runs inside a throwaway sandbox (`inspect`); host code only parses
 * the bounded bytes it prints. No other module may run git or read a workspace.
 */
export { changedFiles, openSnapshotSession, workspaceState, type ChangedFile, type WorkspaceState } from "./changes.js";
export type { InspectionSession } from "./session.js";
export { readWorkspaceFiles, workspaceDiff, type WorkspaceFile } from "./files.js";
export { agentWorktree, cloneWorkspace, dropWorktree, importWorktreeBranch, repositoryOf, type AgentWorktree, type WorkspaceClone } from "./clone.js";
export { WorkspaceError, type RemoteWorkspace, type WorkspaceRef } from "./inspect.js";
