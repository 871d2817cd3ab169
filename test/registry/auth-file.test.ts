import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { authFileForRead, authFileForWrite, defaultAuthFile } from "../../core/auth/paths.js";
import { getCredential, removeAllCredentials, saveCredential } from "../../core/auth/credentials.js";
import { findAuthKey, keyToHost } from "../../core/auth/docker-config.js";
import { parseChallenge } from "../../core/registry/challenge.js";
import { mergeScopes } from "../../core/registry/scope.js";
import { tempDir } from "../helpers/cli.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir("gadget-authfile-");
});
afterAll(async () => tmp?.cleanup());

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("auth file precedence (DESIGN §8)", () => {
  it("--authfile > REGISTRY_AUTH_FILE > default > docker config", () => {
    const none = () => false;
    const all = () => true;
    const home = "/home/u";
    expect(authFileForRead({ authfile: "/f.json", env: { REGISTRY_AUTH_FILE: "/e.json" }, uid: 1000, home }, all)).toEqual({ path: "/f.json", origin: "flag" });
    expect(authFileForRead({ env: { REGISTRY_AUTH_FILE: "/e.json" }, uid: 1000, home }, all)).toEqual({ path: "/e.json", origin: "env" });
    expect(authFileForRead({ env: {}, uid: 1000, home }, all)).toEqual({ path: "/home/u/.ig/config.json", origin: "default" });
    expect(authFileForRead({ env: {}, uid: 1000, home }, none)).toEqual({ path: "/home/u/.docker/config.json", origin: "docker" });
    expect(authFileForRead({ env: { DOCKER_CONFIG: "/dc" }, uid: 1000, home }, none)).toEqual({ path: "/dc/config.json", origin: "docker" });
    expect(defaultAuthFile({ uid: 0, env: {} })).toBe("/var/lib/ig/config.json");
    // login never writes docker's file
    expect(authFileForWrite({ env: {}, uid: 1000, home })).toEqual({ path: "/home/u/.ig/config.json", origin: "default" });
  });

  it("falls back to the docker config when the default file is missing, and prefers the default when present", async () => {
    const home = join(tmp.dir, "home1");
    await mkdir(join(home, ".docker"), { recursive: true });
    await writeFile(join(home, ".docker", "config.json"), JSON.stringify({ auths: { "reg.example:5000": { auth: b64("docker-user:dpw") } } }));
    const env = { HOME: home };
    expect(await getCredential("reg.example:5000", { env, uid: 1000, home })).toMatchObject({ username: "docker-user", password: "dpw" });
    await mkdir(join(home, ".ig"), { recursive: true });
    await writeFile(join(home, ".ig", "config.json"), JSON.stringify({ auths: { "https://reg.example:5000/v2/": { auth: b64("ig-user:ipw") } } }));
    expect(await getCredential("reg.example:5000", { env, uid: 1000, home })).toMatchObject({ username: "ig-user", password: "ipw" });
    const envFile = join(tmp.dir, "env.json");
    await writeFile(envFile, JSON.stringify({ auths: { "reg.example:5000": { identitytoken: "refresh-123" } } }));
    expect(await getCredential("reg.example:5000", { env: { ...env, REGISTRY_AUTH_FILE: envFile }, uid: 1000, home })).toMatchObject({ identityToken: "refresh-123" });
    // a missing explicit --authfile is an error naming it; a missing REGISTRY_AUTH_FILE just means no login
    await expect(getCredential("reg.example:5000", { authfile: join(tmp.dir, "nope.json"), env, uid: 1000, home })).rejects.toThrow(/nope\.json/);
    expect(await getCredential("reg.example:5000", { env: { ...env, REGISTRY_AUTH_FILE: join(tmp.dir, "nope.json") }, uid: 1000, home })).toBeUndefined();
  });

  it("docker.io is looked up as index.docker.io and https://index.docker.io/v1/", async () => {
    const f = join(tmp.dir, "hub.json");
    await writeFile(f, JSON.stringify({ auths: { "https://index.docker.io/v1/": { auth: b64("hub:pw") } } }));
    expect(await getCredential("docker.io", { authfile: f })).toMatchObject({ username: "hub", password: "pw" });
    expect(await getCredential("index.docker.io", { authfile: f })).toMatchObject({ username: "hub" });
    expect(findAuthKey({ auths: { "index.docker.io": {} } }, "docker.io")).toBe("index.docker.io");
    expect(keyToHost("https://Registry.Example:443/v2/")).toBe("registry.example:443");
  });

  it("saves atomically with mode 0600, keeps unknown keys, and removes everything with --all", async () => {
    const f = join(tmp.dir, "deep", "er", "auth.json");
    await saveCredential("a.example", { username: "u", password: "p" }, { authfile: f });
    expect((await stat(f)).mode & 0o777).toBe(0o600);
    expect((await stat(join(tmp.dir, "deep", "er"))).mode & 0o777).toBe(0o700);
    const doc = JSON.parse(await readFile(f, "utf8"));
    doc.psFormat = "keep-me";
    await writeFile(f, JSON.stringify(doc));
    await saveCredential("docker.io", { username: "h", password: "q" }, { authfile: f });
    const doc2 = JSON.parse(await readFile(f, "utf8"));
    expect(doc2.psFormat).toBe("keep-me");
    expect(Object.keys(doc2.auths).sort()).toEqual(["a.example", "https://index.docker.io/v1/"]);
    await removeAllCredentials({ authfile: f });
    expect(JSON.parse(await readFile(f, "utf8")).auths).toEqual({});
    expect((await stat(f)).mode & 0o777).toBe(0o600);
  });
});

describe("WWW-Authenticate and scopes", () => {
  it("parses bearer and basic challenges", () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
    expect(parseChallenge('Basic realm="x y"')).toEqual({ scheme: "basic", params: { realm: "x y" } });
    expect(parseChallenge(undefined)).toBeUndefined();
  });
  it("merges scopes per resource", () => {
    expect(mergeScopes(["repository:a:push", "repository:a:pull", "repository:b:pull"])).toEqual(["repository:a:pull,push", "repository:b:pull"]);
  });
});
