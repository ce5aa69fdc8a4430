import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from "node:crypto";

// Only node: builtins here: warm-start.ts imports this file inside agent images, which hold no node_modules.

/** The line a warm pod's first output starts with; what follows is its X25519 public key (32 bytes, base64url). */
export const WARM_KEY_LINE = "paddock-warm: key ";
/** The annotation that carries an agent's sealed launch to the warm pod it claimed (read there through the downward API). */
export const LAUNCH_ANNOTATION = "paddock.dev/launch";
/** A sealed launch bigger than this is refused: pod annotations hold 256 KiB in all. */
export const MAX_SEALED = 200 * 1024;
const INFO = Buffer.from("paddock warm launch v1");

/** A warm pod's key pair: the private half never leaves the pod's memory. */
export function warmKeys(): { publicKey: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: publicKey.export({ format: "jwk" }).x!, privateKey };
}

/** The public key a warm pod printed, from the start of its output; undefined until it has. */
export function warmKeyOf(output: string): string | undefined {
  const line = output.split("\n", 4).find((l) => l.startsWith(WARM_KEY_LINE));
  const key = line?.slice(WARM_KEY_LINE.length).trim();
  return key && /^[A-Za-z0-9_-]{43}$/.test(key) ? key : undefined;
}

function aesKey(shared: Buffer, ephemeral: string, recipient: string): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.from(`${ephemeral}.${recipient}`), INFO, 32));
}

/**
 * Seals a payload to one pod's public key (X25519, HKDF-SHA256, AES-256-GCM): only the process holding that key's
 * private half can read it, so the annotation it travels in tells whoever reads pods nothing.
 */
export function seal(recipient: string, payload: unknown): string {
  const ephemeral = generateKeyPairSync("x25519");
  const ephemeralPublic = ephemeral.publicKey.export({ format: "jwk" }).x!;
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: createPublicKey({ key: { kty: "OKP", crv: "X25519", x: recipient }, format: "jwk" }) });
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", aesKey(shared, ephemeralPublic, recipient), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(payload)), cipher.final()]);
  const sealed = ["v1", ephemeralPublic, iv.toString("base64url"), body.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
  if (sealed.length > MAX_SEALED) throw new RangeError(`the sealed launch has ${sealed.length} bytes; at most ${MAX_SEALED} fit in a pod's annotations`);
  return sealed;
}

/** Opens what `seal` made for this key pair; throws when it was sealed to another key or changed on the way. */
export function open(keys: { publicKey: string; privateKey: KeyObject }, sealed: string): unknown {
  if (sealed.length > MAX_SEALED) throw new RangeError(`the sealed launch has ${sealed.length} bytes, over ${MAX_SEALED}`);
  const [version, ephemeral, iv, body, tag, ...rest] = sealed.trim().split(".");
  if (version !== "v1" || !ephemeral || !iv || !body || !tag || rest.length) throw new SyntaxError("not a sealed launch (v1.key.iv.body.tag)");
  const shared = diffieHellman({ privateKey: keys.privateKey, publicKey: createPublicKey({ key: { kty: "OKP", crv: "X25519", x: ephemeral }, format: "jwk" }) });
  const decipher = createDecipheriv("aes-256-gcm", aesKey(shared, ephemeral, keys.publicKey), Buffer.from(iv, "base64url"));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  return JSON.parse(Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8"));
}
