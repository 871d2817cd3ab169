/**
 * TLS material from a docker certs.d-style folder (`*.crt` = extra CAs, `client.cert` +
 * `client.key` = client certificate), from `--cert-dir` or, when not given,
 * `/etc/containers/certs.d/<host>` and `/etc/docker/certs.d/<host>`.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { GadgetError, describeSystemError } from "../errors.js";

export interface TlsMaterial {
  ca?: string[];
  cert?: string;
  key?: string;
  /** folders actually read */
  dirs: string[];
}

async function readDir(dir: string, explicit: boolean): Promise<{ ca: string[]; cert?: string; key?: string } | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new GadgetError({ what: "reading --cert-dir", which: dir, why: describeSystemError(e), code: "CERT_DIR" });
  }
  const out: { ca: string[]; cert?: string; key?: string } = { ca: [] };
  const read = async (name: string) => {
    try {
      return await readFile(join(dir, name), "utf8");
    } catch (e) {
      throw new GadgetError({ what: "reading --cert-dir", which: join(dir, name), why: describeSystemError(e), code: "CERT_DIR" });
    }
  };
  for (const n of names) {
    if (n.endsWith(".crt")) out.ca.push(await read(n));
    else if (n.endsWith(".cert")) {
      const keyName = n.slice(0, -".cert".length) + ".key";
      if (!names.includes(keyName)) {
        throw new GadgetError({ what: "reading --cert-dir", which: join(dir, n), why: `missing key ${keyName} for client certificate`, code: "CERT_DIR" });
      }
      out.cert = await read(n);
      out.key = await read(keyName);
    }
  }
  return out;
}

export async function loadTlsMaterial(host: string, certDir?: string): Promise<TlsMaterial> {
  const dirs = certDir ? [certDir] : [join("/etc/containers/certs.d", host), join("/etc/docker/certs.d", host)];
  const m: TlsMaterial = { dirs: [] };
  const extra: string[] = [];
  for (const d of dirs) {
    const r = await readDir(d, Boolean(certDir));
    if (!r) continue;
    m.dirs.push(d);
    extra.push(...r.ca);
    if (r.cert && !m.cert) {
      m.cert = r.cert;
      m.key = r.key;
    }
  }
  if (extra.length > 0) m.ca = [...rootCertificates, ...extra];
  return m;
}
