/** CLI entry: locate the command words, parse flags, run, map errors to exit codes (DESIGN §2). */
import { parseFlags, takesValue, type FlagSpec } from "./args.js";
import { COMMANDS, GLOBAL_FLAGS, GROUPS, type CommandSpec } from "./commands.js";
import { createContext } from "./context.js";
import { installInterrupts, type Interrupts } from "./interrupt.js";
import { exitCodeOf, formatError } from "./output.js";
import { usageError } from "../errors.js";
import { packageVersion } from "../version.js";

interface Located {
  spec?: CommandSpec;
  group?: string;
  rest: string[];
}

function matches(spec: CommandSpec, words: string[]): boolean {
  if (words.length !== spec.words.length) return false;
  const last = words[words.length - 1]!;
  return words.slice(0, -1).every((w, i) => w === spec.words[i]) && (last === spec.words[spec.words.length - 1] || (spec.aliases ?? []).includes(last));
}

/** Find the command words anywhere among flags (global flags may come first). */
function locate(argv: string[]): Located {
  const words: string[] = [];
  const wordIdx: number[] = [];
  const allFlags: FlagSpec[] = [...GLOBAL_FLAGS, ...COMMANDS.flatMap((c) => c.flags)];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const tok = argv[i]!;
    if (tok === "--") break;
    if (tok.startsWith("-") && tok !== "-") {
      if (takesValue(allFlags, tok)) i++;
      continue;
    }
    const candidate = [...words, tok];
    const exact = COMMANDS.find((c) => matches(c, candidate));
    if (exact) {
      wordIdx.push(i);
      const rest = argv.filter((_, j) => !wordIdx.includes(j));
      return { spec: exact, rest };
    }
    if (words.length === 0 && GROUPS[tok] !== undefined) {
      words.push(tok);
      wordIdx.push(i);
      continue;
    }
    break;
  }
  return { group: words[0], rest: argv.filter((_, j) => !wordIdx.includes(j)) };
}

function flagHelp(flags: FlagSpec[]): string[] {
  return flags
    .filter((f) => !f.hidden)
    .map((f) => {
      const names = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`;
      return `  ${names.padEnd(34)} ${f.description}`;
    });
}

function commandHelp(spec: CommandSpec): string {
  return [
    spec.summary,
    "",
    `Usage: ${spec.usage}`,
    ...(spec.aliases?.length ? ["", `Aliases: ${[spec.words.at(-1), ...spec.aliases].join(", ")}`] : []),
    "",
    "Flags:",
    ...flagHelp(spec.flags),
    "",
    "Global flags:",
    ...flagHelp(GLOBAL_FLAGS),
    "",
  ].join("\n");
}

function rootHelp(group?: string): string {
  const cmds = COMMANDS.filter((c) => !group || c.words[0] === group);
  return [
    group ? `${GROUPS[group]}` : "gadget — build, run-ready packaging and distribution of eBPF gadgets (ig-compatible)",
    "",
    `Usage: gadget ${group ?? ""}${group ? " " : ""}COMMAND [flags]`,
    "",
    "Commands:",
    ...cmds.map((c) => `  ${c.words.join(" ").padEnd(16)} ${c.summary}`),
    "",
    "Global flags:",
    ...flagHelp(GLOBAL_FLAGS),
    ...(group ? [] : ["      --version                      print the version"]),
    "",
    `Run 'gadget ${group ? `${group} ` : ""}COMMAND --help' for a command's flags.`,
    "",
  ].join("\n");
}

/**
 * Run one command. SIGINT/SIGTERM and a closed stdout end it the same way for every command
 * (interrupt.ts): the command's `ctx.signal` aborts, and the process exits 130/143/141.
 */
export async function main(argv: string[]): Promise<number> {
  const interrupts = installInterrupts({ command: "gadget" });
  try {
    const code = await runCommand(argv, interrupts);
    if (interrupts.fired) interrupts.finish();
    return code;
  } finally {
    interrupts.dispose();
  }
}

async function runCommand(argv: string[], interrupts: Interrupts): Promise<number> {
  let verbose = process.env.GADGET_DEBUG === "1" || argv.includes("-v") || argv.includes("--verbose");
  try {
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "version")) {
      process.stdout.write(`gadget v${packageVersion()}\n`);
      return 0;
    }
    const { spec, group, rest } = locate(argv);
    if (!spec) {
      const { flags, positionals } = parseFlags(rest, [...GLOBAL_FLAGS, { name: "version", type: "boolean", description: "" }]);
      if (flags.version) {
        process.stdout.write(`gadget v${packageVersion()}\n`);
        return 0;
      }
      if (flags.help || (positionals.length === 0)) {
        process.stdout.write(rootHelp(group));
        return flags.help ? 0 : 2;
      }
      throw usageError(`unknown command ${JSON.stringify([group, positionals[0]].filter(Boolean).join(" "))}`, `run 'gadget ${group ? group + " " : ""}--help' for the list of commands`);
    }
    const { flags, positionals, dashDash } = parseFlags(rest, [...GLOBAL_FLAGS, ...spec.flags]);
    verbose ||= Boolean(flags.verbose);
    if (flags.help) {
      process.stdout.write(commandHelp(spec));
      return 0;
    }
    const cmd = spec.words.join(" ");
    if (positionals.length < spec.args.min || positionals.length > spec.args.max) {
      const n = spec.args.min === spec.args.max ? `${spec.args.min}` : spec.args.max === Number.POSITIVE_INFINITY ? `at least ${spec.args.min}` : `${spec.args.min} to ${spec.args.max}`;
      throw usageError(`"gadget ${cmd}" takes ${n} argument(s), got ${positionals.length}`, `usage: ${spec.usage}`);
    }
    interrupts.doing(`gadget ${cmd}`);
    const mod = await spec.load();
    const ctx = createContext({ args: positionals, flags, interrupts, ...(dashDash !== undefined ? { dashDash } : {}) });
    const code = await mod.run(ctx);
    return typeof code === "number" ? code : 0;
  } catch (e) {
    if (interrupts.fired) interrupts.finish(); // the interrupt line was the one line
    process.stderr.write(formatError(e, verbose) + "\n");
    return exitCodeOf(e);
  }
}
