/**
 * Where `gadget image copy` reads and writes images:
 * - `REF` or `docker://REF` — a registry repository (tag or digest);
 * - `store:[IMAGE]` — the local store (`--oci-store`);
 * - `oci:DIR[:IMAGE]` — an OCI image layout folder (skopeo's `oci:`; IMAGE is its ref name);
 * - `oci-archive:FILE[:IMAGE]` — a tar of an OCI layout, the format of `image export`.
 * parseLocation is pure; the endpoints that open them live in copy-images.ts.
 */
import { usageError } from "../errors.js";
import { parseReference, type Reference } from "../oci/reference.js";

export type Location =
  | { kind: "registry"; ref: Reference; text: string; explicitTag: boolean }
  | { kind: "store"; image?: string; text: string }
  | { kind: "oci"; dir: string; image?: string; text: string }
  | { kind: "oci-archive"; file: string; image?: string; text: string };

/** `a:b` → [a, b]; `a` → [a, undefined] (the path ends at the first colon, as skopeo's oci: does). */
function splitPath(rest: string): [string, string | undefined] {
  const i = rest.indexOf(":");
  if (i < 0) return [rest, undefined];
  const img = rest.slice(i + 1);
  return [rest.slice(0, i), img === "" ? undefined : img];
}

/** Did the user write a tag or digest (`host:5000/repo` has none, `repo:v1` has one)? */
export function hasExplicitTag(text: string): boolean {
  const last = text.slice(text.lastIndexOf("/") + 1);
  return last.includes(":") || last.includes("@");
}

export function parseLocation(text: string, role: "source" | "destination"): Location {
  if (text === "") throw usageError(`empty ${role}`, "give a registry reference, store:[IMAGE], oci:DIR[:IMAGE] or oci-archive:FILE[:IMAGE]");
  if (text.startsWith("store:")) {
    const image = text.slice("store:".length);
    return image ? { kind: "store", image, text } : { kind: "store", text };
  }
  for (const kind of ["oci-archive", "oci"] as const) {
    if (!text.startsWith(`${kind}:`)) continue;
    const [path, image] = splitPath(text.slice(kind.length + 1));
    if (!path) throw usageError(`${role} ${JSON.stringify(text)} names no ${kind === "oci" ? "folder" : "file"}`, `write ${kind}:${kind === "oci" ? "DIR" : "FILE"}[:IMAGE]`);
    if (kind === "oci") return image ? { kind, dir: path, image, text } : { kind, dir: path, text };
    return image ? { kind, file: path, image, text } : { kind, file: path, text };
  }
  let refText = text;
  if (text.startsWith("docker://")) refText = text.slice("docker://".length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw usageError(`unsupported ${role} transport in ${JSON.stringify(text)}`, "use REF, docker://REF, store:[IMAGE], oci:DIR[:IMAGE] or oci-archive:FILE[:IMAGE]");
  }
  const ref = parseReference(refText);
  return { kind: "registry", ref, text: refText, explicitTag: hasExplicitTag(refText) };
}
