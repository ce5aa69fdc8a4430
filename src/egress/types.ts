export interface EgressLimits {
  /** Largest request head (request line and headers), bytes. */
  maxHeaderBytes: number;
  maxHeaders: number;
  /** A client must finish its request head within this (slowloris). */
  headersTimeoutMs: number;
  /** Connecting to an origin. */
  connectTimeoutMs: number;
  /** A tunnel or connection with no traffic either way is closed. */
  idleTimeoutMs: number;
  /** Client connections one agent may hold open at once. */
  maxConnectionsPerAgent: number;
}

export const DEFAULT_LIMITS: EgressLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  headersTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConnectionsPerAgent: 64,
};
