import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { GadgetError } from "../../core/errors.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "./fixtures.js";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
const USER = "bob";
const PASS = "t0ken-flow-pass";

beforeAll(async () => {
  reg = await startRegistry({ token: { users: { [USER]: PASS }, anonymousPull: true, refreshTokens: { [USER]: "refresh-bob-42" } } });
  tmp = await tempDir("gadget-token-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("bearer-token registry (distribution auth.token + a JWT issuer)", () => {
  it("login, push (scoped tokens, cached), anonymous pull, and mount across repositories", async () => {
    const authfile = join(tmp.dir, "auth.json");
    const login = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--plain-http", "--authfile", authfile], { input: PASS });
    expect(login.stdout).toBe("Login Succeeded!\n");
    const bad = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--plain-http", "--authfile", join(tmp.dir, "bad.json")], { input: "nope" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`(${reg.host})`);
    expect(bad.stderr).toContain("401");
    expect(bad.stderr).not.toContain("nope");

    const issued = reg.tokenIssuer!.requests;
    issued.length = 0;
    const a = join(tmp.dir, "a");
    const ref = `${reg.host}/team/gadget:v1`;
    const img = await makeImage(a, ref);
    const pushed = await pushImage({ storeDir: a, reference: ref, insecureRegistries: [reg.host], authfile });
    expect(pushed.digest).toBe(img.index.digest);
    expect(issued.every((r) => r.user === USER && r.granted)).toBe(true);
    expect(issued.some((r) => r.scopes.includes("repository:team/gadget:pull,push"))).toBe(true);
    // tokens are cached per scope set: a handful of token requests for a whole graph
    expect(issued.length).toBeLessThanOrEqual(3);

    // anonymous pull (the issuer grants pull to everyone)
    issued.length = 0;
    const b = join(tmp.dir, "b");
    const pulled = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [reg.host], authfile: join(tmp.dir, "none.json"), env: {} }).catch((e) => e);
    // explicit --authfile that does not exist is an error; use an empty one
    expect(pulled).toBeInstanceOf(GadgetError);
    await writeFile(join(tmp.dir, "none.json"), "{}");
    const anon = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [reg.host], authfile: join(tmp.dir, "none.json") });
    expect(anon.digest).toBe(img.index.digest);
    expect(issued.length).toBeGreaterThan(0);
    expect(issued.every((r) => r.user === undefined)).toBe(true);

    // anonymous push is refused with a clean 401
    const sa = await LayoutStore.open(a);
    await sa.tag(await sa.resolve(ref), `${reg.host}/team/other:v1`);
    const denied = await pushImage({ storeDir: a, reference: `${reg.host}/team/other:v1`, insecureRegistries: [reg.host], authfile: join(tmp.dir, "none.json") }).catch((e) => e);
    expect(denied).toBeInstanceOf(GadgetError);
    expect(String(denied.message)).toContain("401");

    // second repository: blobs are mounted (token carries pull on the source repo)
    const store = sa;
    const other = `${reg.host}/team/copy:v1`;
    await store.tag(await store.resolve(ref), other);
    issued.length = 0;
    const n = (await reg.requests()).length;
    const mirrored = await pushImage({ storeDir: a, reference: other, insecureRegistries: [reg.host], authfile });
    expect(mirrored.stats?.mounted).toBe(3);
    expect(mirrored.stats?.uploaded).toBe(0);
    const reqs = (await reg.requests()).slice(n);
    expect(reqs.filter((r) => r.method === "POST" && r.uri.includes("mount=") && r.status === 201).length).toBe(3);
    expect(issued.some((r) => r.scopes.includes("repository:team/gadget:pull") && r.scopes.includes("repository:team/copy:pull,push"))).toBe(true);
  });

  it("an identity token in the auth file uses the OAuth2 refresh-token grant", async () => {
    const authfile = join(tmp.dir, "idtoken.json");
    await writeFile(authfile, JSON.stringify({ auths: { [reg.host]: { identitytoken: "refresh-bob-42" } } }));
    const a = join(tmp.dir, "c");
    const ref = `${reg.host}/team/idtoken:v1`;
    await makeImage(a, ref);
    const issued = reg.tokenIssuer!.requests;
    issued.length = 0;
    const r = await runGadget(["image", "push", ref, "--oci-store", a, "--insecure-registries", reg.host, "--authfile", authfile, "-v"]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("refresh-bob-42");
    expect(issued.length).toBeGreaterThan(0);
    expect(issued.every((x) => x.method === "POST" && x.user === USER)).toBe(true);
  });
});
