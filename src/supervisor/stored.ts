import type { Card } from "../card/index.js";
import type { AgentWorktree } from "../workspace/index.js";

/** A role as an agent keeps it (paddock.yaml's, resolved at spawn): what its tasks are given and checked by. */
export interface StoredRole {
  name: string;
  system_prompt?: string;
  sections: string[];
  verify?: string;
  verify_retries: number;
}

/**
 * The card as the supervisor keeps it: a worker is marked (so that a restart or a new daemon keeps it one), with its own
 * clone when it has one (its branch is brought into the repository when it ends), the role its tasks are done in, and
 * what the command line allowed; and the card's own agent_id when it was spawned under another name (a cluster's warm
 * pool is the card's).
 */
export type StoredCard = Card & { paddock_worker?: boolean; paddock_worktree?: AgentWorktree; paddock_role?: StoredRole; paddock_allow_unconfined_seccomp?: boolean; paddock_card_id?: string };
