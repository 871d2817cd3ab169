/**
 * Image references, normalized exactly as ig does (DESIGN §3): the first path component is a
 * registry only if it has `.` or `:`, is `localhost`, or has an uppercase letter; otherwise the
 * registry is ghcr.io, and a bare name gets the `inspektor-gadget/gadget/` prefix. Grammar and
 * docker.io rules from distribution/reference; `:latest` only when neither tag nor digest.
 */
import { GadgetError } from "../errors.js";
import { isDigest, type Digest } from "./digest.js";

export const DEFAULT_REGISTRY = "ghcr.io";
export const OFFICIAL_PREFIX = "inspektor-gadget/gadget/";
const LOCALHOST = "localhost";

export interface Reference {
  /** e.g. ghcr.io, localhost:5000, docker.io */
  registry: string;
  /** e.g. inspektor-gadget/gadget/trace_open */
  repository: string;
  tag?: string;
  digest?: Digest;
}

const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE_RE = new RegExp(`^(${DOMAIN})/(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const NAME_MAX = 255;

function invalid(input: string, why: string, hint?: string): GadgetError {
  return new GadgetError({ what: "invalid image name", which: JSON.stringify(input), why, hint, code: "INVALID_REFERENCE" });
}

/** ig's splitIGDomain. */
function splitDomain(name: string): [domain: string, remainder: string] {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = i === -1 ? "" : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== LOCALHOST && first.toLowerCase() === first)) {
    domain = DEFAULT_REGISTRY;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === DEFAULT_REGISTRY && !remainder.includes("/")) remainder = OFFICIAL_PREFIX + remainder;
  return [domain, remainder];
}

/** Parse and normalize an image reference as ig does. Throws GadgetError on invalid input. */
export function parseReference(input: string): Reference {
  // As ig: nothing is trimmed (whitespace makes the name invalid), and a bare 64-hex string is a
  // gadget name like any other (ig prefixes ghcr.io/inspektor-gadget/gadget/ before distribution's
  // check that forbids 64-hex repository names, which then never applies).
  const s = input;
  if (s === "") throw invalid(input, "the name is empty");
  if (/\s/.test(s)) throw invalid(input, "invalid reference format: the name contains whitespace", s.trim() !== "" ? `write it without spaces: ${s.replace(/\s+/g, "")}` : undefined);
  if (s.includes("://")) throw invalid(input, "a reference has no URL scheme", `drop the scheme: ${s.replace(/^[a-zA-Z]+:\/\//, "")}`);
  let [domain, remainder] = splitDomain(s);
  // distribution's splitDockerDomain
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !remainder.includes("/")) remainder = `library/${remainder}`;
  const beforeDigest = remainder.split("@")[0]!;
  const tagSep = beforeDigest.indexOf(":");
  const repoPart = tagSep === -1 ? beforeDigest : beforeDigest.slice(0, tagSep);
  if (repoPart.toLowerCase() !== repoPart) throw invalid(input, `repository name (${repoPart}) must be lowercase`);
  const m = REFERENCE_RE.exec(`${domain}/${remainder}`);
  if (!m) throw invalid(input, "invalid reference format", "names look like [registry/]repository[:tag][@sha256:digest]");
  const [, registry, repository, tag, digest] = m;
  if (registry!.length + 1 + repository!.length > NAME_MAX) {
    throw invalid(input, `repository name must not be more than ${NAME_MAX} characters`);
  }
  const ref: Reference = { registry: registry!, repository: repository! };
  if (tag) ref.tag = tag;
  if (digest) {
    if (!isDigest(digest)) throw invalid(input, `unsupported digest ${digest}`, "use sha256:<64 lowercase hex>");
    ref.digest = digest;
  }
  if (!ref.tag && !ref.digest) ref.tag = "latest";
  return ref;
}

/** registry/repository */
export function referenceName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** registry/repository[:tag][@digest] */
export function formatReference(ref: Reference): string {
  let s = referenceName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** Normalize a string reference to its canonical form. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

/** The repository as `list` shows it: the official prefix trimmed (DESIGN §3). */
export function displayRepository(ref: Reference): string {
  const name = referenceName(ref);
  const official = `${DEFAULT_REGISTRY}/${OFFICIAL_PREFIX}`;
  return name.startsWith(official) ? name.slice(official.length) : name;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** cosign-style signature/referrer tags stored as bare ref names: sha256-<hex>[.sig|.att|.sbom]. */
export function isSignatureTag(refName: string): boolean {
  const last = refName.slice(refName.lastIndexOf(":") + 1);
  return /^sha256-[a-f0-9]{64}(\.(sig|att|sbom))?$/.test(last) || /^sha256-[a-f0-9]{64}(\.(sig|att|sbom))?$/.test(refName);
}

/** Parse a stored ref name (tolerant: bare tags and signature tags return undefined). */
export function tryParseStoredRef(refName: string): Reference | undefined {
  if (isSignatureTag(refName)) return undefined;
  try {
    return parseReference(refName);
  } catch {
    return undefined;
  }
}

/**
 * ig's GadgetImageDesc.String() (pkg/oci/oci.go): `<repository>:<tag>@<digest>`, with an empty
 * tag for a digest-only reference (`host/repo:@sha256:…`), and `@<digest>` without a name.
 * Used in the result lines of build, pull, push and tag.
 */
export function igImageString(reference: string | undefined, digest: string): string {
  if (!reference) return `@${digest}`;
  const ref = parseReference(reference);
  return `${referenceName(ref)}:${ref.tag ?? ""}@${digest}`;
}
