/** Make-style dependency files (clang -MD -MF): `target: dep dep \` with `\ ` escaping spaces. */
import { isAbsolute, join, normalize } from "node:path";

export function parseDepfile(text: string, baseDir: string): string[] {
  const joined = text.replace(/\\\r?\n/g, " ");
  const out: string[] = [];
  const seen = new Set<string>();
  for (const line of joined.split(/\r?\n/)) {
    // the first ':' followed by whitespace (or end) ends the target list
    const m = /:(\s|$)/.exec(line);
    if (!m) continue;
    const deps = line.slice(m.index + 1);
    let cur = "";
    const flush = () => {
      if (cur) {
        const p = normalize(isAbsolute(cur) ? cur : join(baseDir, cur));
        if (!seen.has(p)) {
          seen.add(p);
          out.push(p);
        }
      }
      cur = "";
    };
    for (let i = 0; i < deps.length; i++) {
      const ch = deps[i]!;
      if (ch === "\\" && deps[i + 1] === " ") {
        cur += " ";
        i++;
      } else if (ch === "$" && deps[i + 1] === "$") {
        cur += "$";
        i++;
      } else if (/\s/.test(ch)) flush();
      else cur += ch;
    }
    flush();
  }
  return out;
}
