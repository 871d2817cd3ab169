/** `--only NAME[,NAME…]`: the gadgets a run (or a watch and its --exec) is narrowed to; names or globs. */
import { GadgetError } from "../errors.js";
import { segmentRegExp } from "../gadgetfile/glob.js";

/** A predicate over gadget names; undefined when no pattern was given. */
export function onlyMatcher(patterns: readonly string[]): ((name: string) => boolean) | undefined {
  if (patterns.length === 0) return undefined;
  const res = patterns.map((p) => segmentRegExp(p));
  return (name) => res.some((re) => re.test(name));
}

/** Every pattern must select at least one of `names`: a typo is an error naming the gadgets there are. */
export function checkOnly(patterns: readonly string[], names: readonly string[], where: string): void {
  for (const p of patterns) {
    const re = segmentRegExp(p);
    if (!names.some((n) => re.test(n))) {
      throw new GadgetError({ what: "no such gadget", which: `--only ${p}`, why: `${where} has ${names.length === 0 ? "no gadgets" : `the gadgets ${names.join(", ")}`}`, exitCode: 2, code: "USAGE" });
    }
  }
}
