/** The I/O edge of key handling: read key files, find the password, write a key pair (0600). */
import { open, readFile, stat, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { GadgetError, describeSystemError, systemErrorCode } from "../errors.js";
import { generateKeyPairPem, parsePrivateKey, parsePublicKey, type KeyType, type PublicKey, type SigningKey } from "./keys.js";

const MAX_KEY_BYTES = 64 * 1024;

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw Object.assign(new Error("not a regular file"), { code: st.isDirectory() ? "EISDIR" : "EINVAL" });
    if (st.size > MAX_KEY_BYTES) throw new GadgetError({ what, which: path, why: `${st.size} bytes is too large for a PEM key`, code: "BAD_KEY" });
    return await readFile(path, "utf8");
  } catch (e) {
    if (e instanceof GadgetError) throw e;
    throw new GadgetError({ what, which: path, why: `cannot read the key: ${describeSystemError(e)}`, code: "UNREADABLE_KEY", cause: e });
  }
}

export interface PasswordSource {
  env?: NodeJS.ProcessEnv;
  /** A TTY to prompt on (input must be a TTY with setRawMode). */
  prompt?: { input: Readable & { isTTY?: boolean; setRawMode?: (m: boolean) => unknown }; output: Writable };
}

/** COSIGN_PASSWORD when set (even empty, as cosign), else a hidden prompt on a terminal, else undefined. */
export function passwordFrom(src: PasswordSource): () => Promise<string | undefined> {
  return async () => {
    const env = src.env ?? process.env;
    if (env.COSIGN_PASSWORD !== undefined) return env.COSIGN_PASSWORD;
    const p = src.prompt;
    if (!p || !p.input.isTTY || typeof p.input.setRawMode !== "function") return undefined;
    return promptHidden(p.input as Readable & { setRawMode: (m: boolean) => unknown }, p.output, "Enter password for private key: ");
  };
}

function promptHidden(input: Readable & { setRawMode: (m: boolean) => unknown }, output: Writable, question: string): Promise<string> {
  return new Promise((resolvePw, reject) => {
    // raw mode (no echo) before the question, so an answer typed or pasted at once is not echoed
    input.setRawMode(true);
    output.write(question);
    input.resume();
    let pw = "";
    const done = (err?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off("data", onData);
      output.write("\n");
      if (err) reject(err);
      else resolvePw(pw);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new GadgetError({ what: "reading password", why: "interrupted", exitCode: 1 }));
        if (ch === "\u007f" || ch === "\b") pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    input.on("data", onData);
  });
}

export async function loadSigningKeyFile(path: string, password: () => Promise<string | undefined>): Promise<SigningKey> {
  return parsePrivateKey(await readKeyFile(path, "loading signing key"), path, { password });
}

/**
 * Public keys for verification. Each item is a PEM text (ig's `--public-keys` takes key contents)
 * or a path to a PEM file (relative to cwd).
 */
export async function loadPublicKeys(items: string[], cwd: string): Promise<PublicKey[]> {
  const out: PublicKey[] = [];
  let n = 0;
  for (const item of items) {
    n++;
    if (item.includes("-----BEGIN")) out.push(parsePublicKey(item, `public key #${n}`));
    else {
      const path = resolve(cwd, item);
      out.push(parsePublicKey(await readKeyFile(path, "loading public key"), item));
    }
  }
  return out;
}

/**
 * Write `<prefix>.key` (mode 0600, created exclusively: an existing file is never overwritten)
 * and `<prefix>.pub` (0644). On failure nothing is left behind.
 */
export async function writeKeyPair(prefix: string, type: KeyType, password?: string): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  const { privatePem, publicPem } = generateKeyPairPem(type, password);
  const created: string[] = [];
  try {
    for (const [path, data, mode] of [
      [privatePath, privatePem, 0o600],
      [publicPath, publicPem, 0o644],
    ] as const) {
      let fh;
      try {
        fh = await open(path, "wx", mode);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new GadgetError({
          what: "writing key pair",
          which: path,
          why: code === "EEXIST" ? "file already exists" : describeSystemError(e),
          hint: code === "EEXIST" ? "remove it or choose another --output-prefix" : undefined,
          code: systemErrorCode(e) ?? "WRITE_FAILED",
          cause: e,
        });
      }
      created.push(path);
      try {
        await fh.chmod(mode);
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  } catch (e) {
    for (const p of created) await unlink(p).catch(() => {});
    if (e instanceof GadgetError) throw e;
    throw new GadgetError({ what: "writing key pair", which: prefix, why: describeSystemError(e), cause: e });
  }
  return { privatePath, publicPath };
}
