/**
 * Command-line parsing, cobra-style (as ig): flags before or after the subcommand,
 * `--flag value`, `--flag=value`, `-f value`, booleans accept `--flag=false`, `--` ends flags.
 */
import { usageError } from "../errors.js";

export type FlagType = "boolean" | "string" | "list";

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  description: string;
  /** Shown in help as the value's name, e.g. DIR. */
  value?: string;
  default?: string | boolean;
  hidden?: boolean;
  /** A string flag given several times keeps every value, in order (not split on commas). */
  repeatable?: boolean;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  flags: FlagValues;
  positionals: string[];
  /** How many positionals came before a `--` (undefined: there was none). */
  dashDash?: number;
}

function findFlag(specs: FlagSpec[], name: string, short: boolean): FlagSpec | undefined {
  return specs.find((s) => (short ? s.short === name : s.name === name));
}

function parseBool(flag: string, v: string): boolean {
  if (/^(true|1|t|yes)$/i.test(v)) return true;
  if (/^(false|0|f|no)$/i.test(v)) return false;
  throw usageError(`invalid value ${JSON.stringify(v)} for --${flag}: expected true or false`);
}

/** Parse argv (command words already removed) against the flag specs. */
export function parseFlags(argv: string[], specs: FlagSpec[]): ParsedArgs {
  const flags: FlagValues = {};
  const positionals: string[] = [];
  let dashDash: number | undefined;
  for (const s of specs) if (s.default !== undefined) flags[s.name] = s.default;
  const set = (spec: FlagSpec, value: string | boolean) => {
    if (spec.type === "string" && spec.repeatable) {
      const prev = flags[spec.name];
      flags[spec.name] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else if (spec.type === "list") {
      const prev = (flags[spec.name] as string[] | undefined) ?? [];
      flags[spec.name] = [...(Array.isArray(prev) ? prev : []), ...String(value).split(",").filter((x) => x !== "")];
    } else flags[spec.name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === "--") {
      dashDash = positionals.length;
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (tok === "-" || !tok.startsWith("-")) {
      positionals.push(tok);
      continue;
    }
    const long = tok.startsWith("--");
    const body = tok.slice(long ? 2 : 1);
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : long ? body : body.slice(0, 1);
    let inline: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (!long && eq < 0 && body.length > 1) inline = body.slice(1);
    const spec = findFlag(specs, name, !long);
    if (!spec) throw usageError(`unknown flag: ${long ? "--" : "-"}${name}`, "see --help for the flags this command takes");
    if (spec.type === "boolean") {
      set(spec, inline === undefined ? true : parseBool(spec.name, inline));
      continue;
    }
    if (inline === undefined) {
      if (i + 1 >= argv.length) throw usageError(`flag needs an argument: --${spec.name}`);
      inline = argv[++i]!;
    }
    set(spec, inline);
  }
  return dashDash === undefined ? { flags, positionals } : { flags, positionals, dashDash };
}

/** Names of flags that consume the following token (for locating command words). */
export function takesValue(specs: FlagSpec[], tok: string): boolean {
  if (!tok.startsWith("-") || tok.includes("=")) return false;
  const long = tok.startsWith("--");
  const name = tok.slice(long ? 2 : 1);
  if (!long && name.length !== 1) return false;
  const spec = findFlag(specs, name, !long);
  return spec !== undefined && spec.type !== "boolean";
}
