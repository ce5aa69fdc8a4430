import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const SESSION_SECONDS = 12 * 3600;

/**
 * Dashboard sessions, signed with a key derived from the daemon's token: the
 * cookie holds an expiry, a nonce and their MAC, never the token, so a stolen
 * cookie expires and a new token ends every session. The CSRF token is bound
 * to the session's nonce, so it is worth nothing with another session.
 */
export class Sessions {
  private readonly key: Buffer;
  private readonly tokenDigest: Buffer;
  /** Logged-out sessions, by nonce, until they would have expired anyway. */
  private readonly ended = new Map<string, number>();

  constructor(token: string) {
    this.key = createHmac("sha256", token).update("paddock dashboard session").digest();
    this.tokenDigest = digest(token);
  }

  /** Whether a login form's token is the daemon's (in constant time). */
  tokenMatches(given: string): boolean {
    return timingSafeEqual(digest(given), this.tokenDigest);
  }

  create(now = Date.now()): { cookie: string; maxAge: number } {
    const body = `${Math.floor(now / 1000) + SESSION_SECONDS}.${randomBytes(16).toString("base64url")}`;
    return { cookie: `${body}.${this.mac(body)}`, maxAge: SESSION_SECONDS };
  }

  /** The session's nonce if the cookie is one of ours, unexpired and not logged out. */
  verify(cookie: string | undefined, now = Date.now()): string | undefined {
    const match = /^(\d+)\.([\w-]{22})\.([\w-]{43})$/.exec(cookie ?? "");
    if (!match) return undefined;
    const [, expires, nonce, mac] = match as unknown as [string, string, string, string];
    if (!equal(mac, this.mac(`${expires}.${nonce}`))) return undefined;
    if (Number(expires) * 1000 < now || this.ended.has(nonce)) return undefined;
    return nonce;
  }

  end(nonce: string, now = Date.now()): void {
    for (const [old, expires] of this.ended) if (expires < now) this.ended.delete(old);
    this.ended.set(nonce, now + SESSION_SECONDS * 1000);
  }

  csrfToken(nonce: string): string {
    return createHmac("sha256", this.key).update(`csrf.${nonce}`).digest("base64url");
  }

  csrfMatches(nonce: string, given: string | undefined): boolean {
    return given !== undefined && equal(given, this.csrfToken(nonce));
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(`session.${body}`).digest("base64url");
  }
}

function digest(text: string): Buffer {
  return createHmac("sha256", "paddock").update(text).digest();
}

function equal(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}
