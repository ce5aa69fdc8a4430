import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Buffers per tunnel: all but one may hold bytes the client has not taken yet; the last is the one being read into. */
const BUFFERS = 5;
const BUFFER_BYTES = 64 * 1024;

/**
 * The origin-to-client half of a CONNECT tunnel: the origin socket reads into a
 * few buffers of the tunnel's own (net.connect's `onread`), each written to the
 * client and reused once written. A pipe allocates a fresh buffer per read; at
 * a gigabyte a second that churn of external memory makes V8 run a full
 * collection every few tens of milliseconds in a process with paddock's heap,
 * which halved a bulk download. Bytes the origin sends before the client is
 * attached (a server that speaks first) wait for it; when all but one buffer
 * are in flight, the origin is paused until the client has taken one.
 */
export class OriginRelay {
  /** Made as they are needed, so the many short tunnels (an HTTPS call or two) hold one or two. */
  private readonly free: Buffer[] = [];
  private made = 0;
  private readonly waiting: Array<[Buffer, number]> = [];
  private origin?: Socket;
  private client?: Duplex;
  private paused = false;
  /** The origin ended its side cleanly: the client is (or will be, once attached) ended after the last byte. */
  ended = false;

  /**
   * For net.connect. Node asks for the next buffer right after each read's
   * callback and keeps reading into the last one it got if it gets none, so one
   * free buffer is always kept for it: the origin is paused when the buffer it
   * is handed next is the last.
   */
  readonly onread = {
    buffer: (): Buffer => this.free.pop() ?? (this.made++, Buffer.allocUnsafeSlow(BUFFER_BYTES)),
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      if (this.client) this.write(buffer as Buffer, bytes);
      else this.waiting.push([buffer as Buffer, bytes]);
      if (this.free.length + BUFFERS - this.made > 1) return true;
      this.paused = true;
      return false;
    },
  };

  /** The socket made with `onread`: its end is the client's, whenever the client comes. */
  watch(origin: Socket): void {
    this.origin = origin;
    origin.once("end", () => {
      this.ended = true;
      this.client?.end();
    });
  }

  /** Starts relaying to the client: first what the origin sent before, then each read as it comes. */
  attach(client: Duplex): void {
    this.client = client;
    for (const [buffer, bytes] of this.waiting.splice(0)) this.write(buffer, bytes);
    if (this.ended) client.end();
  }

  private write(buffer: Buffer, bytes: number): void {
    this.client!.write(buffer.subarray(0, bytes), () => {
      this.free.push(buffer);
      if (this.paused && !this.ended) {
        this.paused = false;
        this.origin!.resume();
      }
    });
  }
}
