/**
 * `gadget typecheck`: the gadgetfile and its local stages checked by the TypeScript compiler (types
 * are erased when gadget bundles them, so this is where a wrong option type or a typo in the stage
 * API is caught before a run). TypeScript is an optional dependency: it is taken from the
 * project's node_modules, else from gadget's own; when neither has it, the error says how to
 * install it. `import … from "gadget"` resolves to the running gadget's sources, as at run time.
 * Only the project's own files are reported (not gadget's, not node_modules).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { GadgetError } from "../errors.js";

type TS = typeof import("typescript");

export interface TypeDiagnostic {
  /** Absolute path (undefined for a global problem, e.g. in the compiler options). */
  file?: string;
  line?: number;
  column?: number;
  /** `TS2322` */
  code: string;
  message: string;
}

export interface TypecheckResult {
  /** The project files that were checked (the gadgetfile, local stages and what they import). */
  files: string[];
  diagnostics: TypeDiagnostic[];
  /** Where TypeScript came from, and its version. */
  typescript: { path: string; version: string };
}

/** The folder this gadget runs from (holding core/, recipes/ and package.json). */
export function installationRoot(): string {
  const self = import.meta.url;
  return fileURLToPath(new URL(self.endsWith(".ts") ? "../../" : "../../../", self));
}

export const TYPESCRIPT_INSTALL = "npm install --save-dev typescript @types/node";

/** TypeScript from the project (looked up from `dir`), else from gadget's installation. */
export function loadTypescript(dir: string): { ts: TS; path: string } {
  for (const from of [join(resolve(dir), "package.json"), join(installationRoot(), "package.json")]) {
    let path: string;
    try {
      path = createRequire(from).resolve("typescript");
    } catch {
      continue;
    }
    return { ts: createRequire(from)("typescript") as TS, path };
  }
  throw new GadgetError({
    what: "cannot type-check",
    which: "typescript",
    why: "TypeScript is not installed (an optional dependency of gadget: only `gadget typecheck` needs it)",
    hint: `install it in your project: ${TYPESCRIPT_INSTALL}`,
    code: "TOOL_NOT_FOUND",
  });
}

/** Compiler options: the project's tsconfig.json when there is one, else what fits a bundled gadgetfile. */
function compilerOptions(ts: TS, dir: string): import("typescript").CompilerOptions {
  const root = installationRoot();
  const defaults: import("typescript").CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    module: ts.ModuleKind.ESNext,
    // esbuild bundles the gadgetfile and stages: bundler resolution is what really happens
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    skipLibCheck: true,
    esModuleInterop: true,
    resolveJsonModule: true,
    allowImportingTsExtensions: true,
    types: ["node"],
  };
  let options = defaults;
  const configFile = ts.findConfigFile(dir, (f) => ts.sys.fileExists(f), "tsconfig.json");
  // gadget's own tsconfig.json (a project inside gadget's checkout, like examples/) is not the project's
  if (configFile && !resolve(configFile).startsWith(root)) {
    const read = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
    if (!read.error) options = { ...ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(configFile)).options };
  }
  const typeRoots = [join(resolve(dir), "node_modules", "@types"), join(root, "node_modules", "@types")].filter((p) => existsSync(p));
  return {
    ...options,
    noEmit: true,
    ...(options.typeRoots ? {} : { typeRoots }),
    paths: {
      ...(options.paths ?? {}),
      gadget: [join(root, "core", "index.ts")],
      "gadget/stage": [join(root, "core", "stage-api.ts")],
      "gadget/recipes/*": [join(root, "recipes", "*")],
    },
  };
}

/** Type-check `roots` (the gadgetfile and local stage files) and what they import. */
export function typecheckFiles(roots: string[], dir: string): TypecheckResult {
  const { ts, path } = loadTypescript(dir);
  const options = compilerOptions(ts, dir);
  const program = ts.createProgram({ rootNames: roots, options });
  const root = installationRoot();
  const own = (f: string) => !f.startsWith(root) && !f.split(/[\\/]/).includes("node_modules") && !f.endsWith(".d.ts");
  const files = program
    .getSourceFiles()
    .map((sf) => resolve(sf.fileName))
    .filter(own);
  const diags: import("typescript").Diagnostic[] = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  for (const sf of program.getSourceFiles()) {
    if (!own(resolve(sf.fileName))) continue;
    diags.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
  }
  const diagnostics = diags
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d): TypeDiagnostic => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, " ").replace(/\s+/g, " ").trim();
      if (!d.file || d.start === undefined) return { code: `TS${d.code}`, message };
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return { file: resolve(d.file.fileName), line: line + 1, column: character + 1, code: `TS${d.code}`, message };
    })
    .sort((a, b) => (a.file ?? "").localeCompare(b.file ?? "") || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { files, diagnostics, typescript: { path, version: ts.version } };
}

/** The TypeScript stage files among the gadgetfile's `plugins` (local ones only). */
export function localStageFiles(plugins: readonly string[], dir: string): string[] {
  return plugins
    .filter((p) => p.startsWith(".") || isAbsolute(p))
    .map((p) => resolve(dir, p))
    .filter((f) => [".ts", ".mts", ".cts", ".tsx"].includes(extname(f)) && !f.startsWith(installationRoot() + sep));
}
