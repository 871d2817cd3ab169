/**
 * The docker credential-helper protocol: `docker-credential-<name> get|store|erase` with the
 * server URL or a JSON document on stdin. Secrets travel only through the pipes.
 */
import { spawn } from "node:child_process";
import { GadgetError } from "../errors.js";
import type { Credential } from "./credential.js";

export const TOKEN_USER = "<token>";

function helperBinary(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new GadgetError({ what: "credential helper", which: name, why: "invalid helper name", code: "AUTH_CONFIG" });
  }
  return `docker-credential-${name}`;
}

function runHelper(name: string, action: "get" | "store" | "erase", input: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = helperBinary(name);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { stdio: ["pipe", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        new GadgetError({
          what: "running credential helper",
          which: bin,
          why: e.code === "ENOENT" ? "not found on PATH" : e.message,
          hint: e.code === "ENOENT" ? `install ${bin} or remove it from credHelpers/credsStore in the auth file` : undefined,
          code: "AUTH_HELPER",
        }),
      );
    });
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

/** The helper's text without anything that could be a secret (first line only, trimmed). */
function helperMessage(out: string): string {
  return out.trim().split("\n")[0]?.slice(0, 200) ?? "";
}

export async function helperGet(name: string, serverURL: string, env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  const r = await runHelper(name, "get", serverURL, env);
  if (r.code !== 0) {
    const msg = helperMessage(r.stdout || r.stderr);
    if (/credentials not found/i.test(msg) || msg === "") return undefined;
    throw new GadgetError({ what: "getting credentials", which: `docker-credential-${name} for ${serverURL}`, why: msg, code: "AUTH_HELPER" });
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    throw new GadgetError({ what: "getting credentials", which: `docker-credential-${name}`, why: "the helper did not print JSON", code: "AUTH_HELPER" });
  }
  const username = typeof doc.Username === "string" ? doc.Username : "";
  const secret = typeof doc.Secret === "string" ? doc.Secret : "";
  if (!username && !secret) return undefined;
  const source = `docker-credential-${name}`;
  if (username === TOKEN_USER) return { identityToken: secret, source };
  return { username, password: secret, source };
}

export async function helperStore(name: string, serverURL: string, cred: Credential, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const body = JSON.stringify({
    ServerURL: serverURL,
    Username: cred.identityToken ? TOKEN_USER : (cred.username ?? ""),
    Secret: cred.identityToken ?? cred.password ?? "",
  });
  const r = await runHelper(name, "store", body, env);
  if (r.code !== 0) {
    throw new GadgetError({ what: "storing credentials", which: `docker-credential-${name} for ${serverURL}`, why: helperMessage(r.stdout || r.stderr) || `exit code ${r.code}`, code: "AUTH_HELPER" });
  }
}

/** Returns false when the helper had nothing for that server. */
export async function helperErase(name: string, serverURL: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const r = await runHelper(name, "erase", serverURL, env);
  if (r.code === 0) return true;
  const msg = helperMessage(r.stdout || r.stderr);
  if (/not found/i.test(msg)) return false;
  throw new GadgetError({ what: "erasing credentials", which: `docker-credential-${name} for ${serverURL}`, why: msg || `exit code ${r.code}`, code: "AUTH_HELPER" });
}
