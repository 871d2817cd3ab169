import { usageError } from "../../errors.js";
import { getLogin, login, normalizeRegistryArg } from "../../auth/login.js";
import { registryTimeouts } from "../../registry/timeouts.js";
import type { CommandContext } from "../context.js";
import { authFileFlag } from "../registry-options.js";

async function readStdin(ctx: CommandContext): Promise<string> {
  let s = "";
  for await (const c of ctx.stdin) s += String(c);
  return s.replace(/\r?\n$/, "");
}

/** Ask on the terminal; with `secret`, the typed characters are not echoed. */
async function prompt(ctx: CommandContext, question: string, secret: boolean): Promise<string> {
  const stdin = ctx.stdin as NodeJS.ReadStream;
  return new Promise((resolve, reject) => {
    let buf = "";
    const raw = secret && typeof stdin.setRawMode === "function";
    // echo off before the prompt shows: a password typed (or sent) right after it is never echoed
    if (raw) stdin.setRawMode(true);
    ctx.stderr.write(question);
    stdin.resume();
    stdin.setEncoding("utf8");
    const done = (v: string | Error) => {
      stdin.off("data", onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      if (secret) ctx.stderr.write("\n");
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done(buf);
        if (ch === "\u0003") return done(usageError("login cancelled"));
        if (ch === "\u007f" || ch === "\b") buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on("data", onData);
  });
}

export async function run(ctx: CommandContext): Promise<void> {
  const arg = ctx.args[0];
  if (!arg) throw usageError("login needs a REGISTRY", "usage: gadget login REGISTRY [-u USER] [--password-stdin]");
  const registry = normalizeRegistryArg(arg);
  const authfile = authFileFlag(ctx);
  if (ctx.flagBool("get-login")) {
    ctx.out(await getLogin(registry, { authfile, env: ctx.env }));
    return;
  }
  const timeouts = registryTimeouts(ctx.flagString("timeout"), ctx.env);
  const passwordFlag = ctx.flagString("password");
  const fromStdin = ctx.flagBool("password-stdin");
  if (passwordFlag !== undefined && fromStdin) throw usageError("--password and --password-stdin are mutually exclusive");
  const stdinTTY = Boolean((ctx.stdin as NodeJS.ReadStream).isTTY);
  let username = ctx.flagString("username");
  if (fromStdin && !username) throw usageError("--password-stdin needs --username (-u)");
  if (!username) {
    if (!stdinTTY) throw usageError("no user name given and stdin is not a terminal", "pass -u USER");
    username = (await prompt(ctx, "Username: ", false)).trim();
  }
  let password = passwordFlag;
  if (fromStdin) password = await readStdin(ctx);
  if (password === undefined) {
    if (!stdinTTY) throw usageError("no password given and stdin is not a terminal", "pass --password-stdin");
    password = await prompt(ctx, "Password: ", true);
  }
  if (passwordFlag !== undefined) ctx.warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
  const opts: Parameters<typeof login>[1] = {
    username,
    password,
    tlsVerify: ctx.flags["tls-verify"] !== false,
    plainHttp: ctx.flagBool("plain-http"),
    env: ctx.env,
  };
  if (authfile) opts.authfile = authfile;
  const certDir = ctx.flagString("cert-dir");
  if (certDir) opts.certDir = certDir;
  if (ctx.verbose) opts.onDebug = (line) => ctx.warn(line);
  opts.timeouts = timeouts;
  opts.signal = ctx.signal;
  ctx.interrupts?.doing(`logging in to ${registry}`);
  await login(registry, opts);
  ctx.out("Login Succeeded!");
}
