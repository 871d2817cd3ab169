/**
 * `gadget run --watch --exec CMD` commands, as data (issue 21): CMD is split into argv the way a
 * shell splits words — spaces, '…', "…" and \ — but nothing is expanded and no shell runs, unless
 * the command is itself a shell (`sh -c '…'`). Shell syntax outside quotes (`|`, `;`, `&`, `<`,
 * `>`, `$…`, backquotes) is refused with a hint rather than passed on as a literal argument.
 * Placeholders `{ref}`, `{digest}`, `{name}`, `{dir}` are replaced in each argument after
 * splitting, so a value never becomes two arguments.
 */

/** The placeholders an exec command may use. */
export const EXEC_PLACEHOLDERS = ["ref", "digest", "name", "dir"] as const;
export type ExecPlaceholder = (typeof EXEC_PLACEHOLDERS)[number];

/** What one instance is started with: the image just built and the gadget it belongs to. */
export interface ExecVars {
  /** The store reference just tagged (absent when the gadget has no tag). */
  ref?: string;
  digest: string;
  name: string;
  dir: string;
}

/** A command that cannot be split: `why` and a `hint`, for the caller to place (flag or gadgetfile key). */
export class ExecCommandError extends Error {
  constructor(
    readonly why: string,
    readonly hint?: string,
  ) {
    super(why);
    this.name = "ExecCommandError";
  }
}

const SHELL_HINT = "run it through a shell: sh -c '…' (the placeholders work inside it, and so do $GADGET_REF and friends)";

/** Split a command into argv without a shell (see the module comment). */
export function splitCommand(text: string): string[] {
  const argv: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) argv.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ExecCommandError("unterminated ' quote");
      word += text.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      for (;;) {
        if (i >= n) throw new ExecCommandError('unterminated " quote');
        const d = text[i]!;
        if (d === '"') break;
        if (d === "$" || d === "`") throw new ExecCommandError(`${d === "$" ? "$" : "`"} inside "…" needs a shell to expand it`, SHELL_HINT);
        if (d === "\\" && i + 1 < n && '"\\$`'.includes(text[i + 1]!)) {
          word += text[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
      i++;
      continue;
    }
    if (c === "\\") {
      if (i + 1 >= n) throw new ExecCommandError("a trailing \\ escapes nothing");
      word += text[i + 1];
      i += 2;
      continue;
    }
    if ("|;&<>`".includes(c) || c === "$") {
      throw new ExecCommandError(`${c} is shell syntax, and the command runs without a shell`, SHELL_HINT);
    }
    word += c;
    i++;
  }
  if (inWord) argv.push(word);
  if (argv.length === 0) throw new ExecCommandError("the command is empty");
  return argv;
}

const PLACEHOLDER_RE = /\{(ref|digest|name|dir)\}/g;

/** The placeholders an argv uses. */
export function placeholdersIn(argv: readonly string[]): Set<ExecPlaceholder> {
  const used = new Set<ExecPlaceholder>();
  for (const a of argv) for (const m of a.matchAll(PLACEHOLDER_RE)) used.add(m[1] as ExecPlaceholder);
  return used;
}

/**
 * Replace the placeholders in each argument. Other braces are left alone (`awk '{print}'`).
 * Throws an ExecCommandError when `{ref}` is used and the gadget has no tag.
 */
export function expandPlaceholders(argv: readonly string[], vars: ExecVars): string[] {
  return argv.map((a) =>
    a.replace(PLACEHOLDER_RE, (_m, k: ExecPlaceholder) => {
      const v = vars[k];
      if (v === undefined) throw new ExecCommandError(`{${k}} is used but gadget ${vars.name} has no tag, so nothing was tagged in the store`, 'give it one, e.g. defaults: { tag: "{name}:dev" } in gadgetfile.ts');
      return v;
    }),
  );
}

/** The environment an instance gets on top of gadget's own: GADGET_REF, GADGET_DIGEST, GADGET_NAME, GADGET_DIR, GADGET_OCI_STORE. */
export function execEnv(base: NodeJS.ProcessEnv, vars: ExecVars, storeDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  delete env.GADGET_REF;
  if (vars.ref !== undefined) env.GADGET_REF = vars.ref;
  env.GADGET_DIGEST = vars.digest;
  env.GADGET_NAME = vars.name;
  env.GADGET_DIR = vars.dir;
  env.GADGET_OCI_STORE = storeDir;
  return env;
}

/**
 * Where `ig` reads its local store for a command, when the command runs ig (found by its
 * program name, also behind `sudo`/`env`): ig has no flag or variable for the store's path; it
 * uses `$HOME/.ig/oci-store` when not root, `/var/lib/ig/oci-store` as root, or with
 * `--oci-store-user` as root the store in the home of the user behind sudo (`userHome`).
 * Undefined when the command does not run ig, or the store cannot be told (no `userHome`).
 */
export function igStoreFor(argv: readonly string[], o: { uid: number; home: string; userHome?: string }): string | undefined {
  const igAt = argv.findIndex((a) => a === "ig" || a.endsWith("/ig"));
  if (igAt < 0) return undefined;
  const viaSudo = argv.slice(0, igAt).some((a) => a === "sudo" || a.endsWith("/sudo"));
  const root = o.uid === 0 || viaSudo;
  if (!root) return `${o.home}/.ig/oci-store`;
  if (argv.slice(igAt + 1).includes("--oci-store-user")) return o.userHome === undefined ? undefined : `${o.userHome}/.ig/oci-store`;
  return "/var/lib/ig/oci-store";
}
