/** The I/O edge of key handling: read key files, find the password, write a key pair (0600). */
import { existsSync } from "node:fs";
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
 * Where a private key comes from: a PEM file, `env://VAR` (an environment variable holding the
 * PEM, as CI secrets are), or `-` (stdin). The value itself is never echoed — error messages name
 * the file, `env://VAR` or `stdin`.
 */
export type KeySource = { kind: "file"; path: string } | { kind: "env"; name: string } | { kind: "stdin" };

/**
 * Does this look like key material rather than a file name: a PEM block or a line break, or a long
 * base64 run that names no existing file (a long path without dots looks like base64 too)?
 */
export function looksLikeKeyMaterial(value: string, cwd = process.cwd()): boolean {
  if (/-----BEGIN|PRIVATE KEY|\n/.test(value)) return true;
  return /^[A-Za-z0-9+/=\s]{60,}$/.test(value) && !existsSync(resolve(cwd, value));
}

/** `--key VALUE` (or a sign target's `key`) → where to read the key; `which` names the option in errors. */
export function parseKeySource(value: string, cwd: string, which = "--key"): KeySource {
  if (value === "-") return { kind: "stdin" };
  if (value.startsWith("env://")) {
    const name = value.slice("env://".length);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new GadgetError({ what: "invalid usage", which, why: `${JSON.stringify(value)} does not name an environment variable`, hint: "e.g. --key env://COSIGN_PRIVATE_KEY", exitCode: 2, code: "USAGE" });
    }
    return { kind: "env", name };
  }
  if (looksLikeKeyMaterial(value, cwd)) {
    throw new GadgetError({
      what: "invalid usage",
      which,
      why: "the value is key material, not a key file (it is not shown)",
      hint: `pass the key in an environment variable (${which} env://COSIGN_PRIVATE_KEY) or on stdin (${which} -), never as an argument: arguments are visible to every user of this machine`,
      exitCode: 2,
      code: "USAGE",
    });
  }
  return { kind: "file", path: resolve(cwd, value) };
}

/** A short name of the source for messages: the path, `env://VAR` or `stdin`. */
export function keySourceName(src: KeySource): string {
  return src.kind === "file" ? src.path : src.kind === "env" ? `env://${src.name}` : "stdin";
}

/** Read and parse a private key from its source (`stdin`: the stream, read to its end, at most 64 KiB). */
export async function loadSigningKey(src: KeySource, password: () => Promise<string | undefined>, io: { env?: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>; stdin?: Readable } = {}): Promise<SigningKey> {
  const what = "loading signing key";
  if (src.kind === "file") return loadSigningKeyFile(src.path, password);
  const name = keySourceName(src);
  let text: string;
  if (src.kind === "env") {
    const v = (io.env ?? process.env)[src.name];
    if (v === undefined || v === "") throw new GadgetError({ what, which: name, why: `the environment variable ${src.name} is not set`, hint: `set ${src.name} to the PEM private key`, code: "UNREADABLE_KEY" });
    text = v;
  } else {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of io.stdin ?? process.stdin) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
      n += b.length;
      if (n > MAX_KEY_BYTES) throw new GadgetError({ what, which: name, why: `more than ${MAX_KEY_BYTES} bytes is too large for a PEM key`, code: "BAD_KEY" });
      chunks.push(b);
    }
    text = Buffer.concat(chunks).toString("utf8");
    if (text.trim() === "") throw new GadgetError({ what, which: name, why: "stdin was empty", hint: "pipe the PEM private key in: gadget image sign IMAGE --key - < cosign.key", code: "UNREADABLE_KEY" });
  }
  // a base64-wrapped PEM (as some CI secret stores keep it) is unwrapped
  if (!text.includes("-----BEGIN") && /^[A-Za-z0-9+/=\s]+$/.test(text)) {
    const decoded = Buffer.from(text.replace(/\s+/g, ""), "base64").toString("utf8");
    if (decoded.includes("-----BEGIN")) text = decoded;
  }
  return parsePrivateKey(text, name, { password });
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
