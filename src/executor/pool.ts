/**
 * Bounds how many tasks run at once against each upstream: a one-slot
 * llama.cpp server gets one task at a time, the others wait their turn in
 * arrival order (a task interleaved with another only thrashes the server's
 * prompt cache and doubles both tasks' latency).
 */
export class TaskPool {
  private readonly pools = new Map<string, { active: number; waiting: Array<() => void> }>();

  /** Waits for a slot in pool `key` of `size` slots; resolves with its release. */
  async acquire(key: string, size: number, onWait?: (position: number) => void): Promise<() => void> {
    const pool = this.pools.get(key) ?? { active: 0, waiting: [] };
    this.pools.set(key, pool);
    if (pool.active >= size) {
      onWait?.(pool.waiting.length + 1);
      await new Promise<void>((resolve) => pool.waiting.push(resolve));
    } else {
      pool.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = pool.waiting.shift();
      if (next) next();
      else if (--pool.active === 0) this.pools.delete(key);
    };
  }
}
