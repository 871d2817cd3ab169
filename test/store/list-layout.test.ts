/**
 * Gap 4 of issue 17: `gadget image list` prints what `ig image list` prints.
 *
 * ig, cmd/common/image/list.go NewListCmd:
 *   case utils.OutputModeJSON:       bytes, _ := json.Marshal(images); fmt.Fprint(cmd.OutOrStdout(), string(bytes))
 *   case utils.OutputModeJSONPretty: json.MarshalIndent(images, "", "  ") … (no trailing newline either)
 *   case utils.OutputModeColumns:
 *     isTerm := term.IsTerminal(int(os.Stdout.Fd()))
 *     if !noTrunc && isTerm { digest: strings.TrimPrefix(i.Digest, "sha256:")[:12]
 *                             created: fmt.Sprintf("%s ago", strings.ToLower(units.HumanDuration(now.Sub(t)))) }
 *     textcolumns.NewFormatter(cols.GetColumnMap(), textcolumns.WithShouldTruncate(!noTrunc && isTerm))
 * pkg/oci/oci.go: type GadgetImageDesc struct { Repository `column:"repository"`, Tag `column:"tag"`,
 *   Digest `column:"digest,width:12,fixed"`, Created `column:"created"` }; GetGadgetImages walks
 *   store.Tags (ascending), tag "latest" when the reference has none, trims "ghcr.io/inspektor-gadget/gadget/".
 * pkg/columns/formatter/textcolumns/output.go buildFixedString: `if !tf.options.ShouldTruncate { return s }`,
 *   else ellipsis.Shorten(rs, length, ellipsis.End) padded with spaces; WriteTable joins cells with
 *   ColumnDivider " " and ends each row with "\n"; scaler.go RecalculateWidths shares the terminal width.
 * docker/go-units duration.go HumanDuration: "Less than a second", "1 second", "%d seconds",
 *   "About a minute", "%d minutes", "About an hour", "%d hours", "%d days", "%d weeks", "%d months", "%d years".
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { makeImage } from "../registry/fixtures.js";
import { createdAgo, formatTable, humanDuration, scaleWidths, shortenEnd } from "../../core/cli/textcolumns.js";

let dir: string;
let cleanup: () => Promise<void>;
let store: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-list-layout-"));
  store = `${dir}/store`;
  const r = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => cleanup?.());

/** `script(1)` gives the command a terminal of the given width (stdin and stdout are the pty). */
async function onTerminal(cols: number, args: string[]): Promise<string> {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  const r = await runCommand("script", ["-qec", `stty cols ${cols} rows 40; node bin/gadget.js ${quoted}`, "/dev/null"]);
  expect(r.code, r.stdout).toBe(0);
  return r.stdout.replace(/\r\n/g, "\n");
}

const MS = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

describe("go-units HumanDuration", () => {
  it("words durations as go-units does (ig lower-cases them and adds ' ago')", () => {
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(1 * MS.s)).toBe("1 second");
    expect(humanDuration(59 * MS.s)).toBe("59 seconds");
    expect(humanDuration(90 * MS.s)).toBe("About a minute");
    expect(humanDuration(59 * MS.min)).toBe("59 minutes");
    expect(humanDuration(89 * MS.min)).toBe("About an hour");
    expect(humanDuration(90 * MS.min)).toBe("2 hours");
    expect(humanDuration(30 * MS.h)).toBe("30 hours");
    expect(humanDuration(10 * MS.d)).toBe("10 days");
    expect(humanDuration(6 * 7 * MS.d)).toBe("6 weeks");
    expect(humanDuration(90 * MS.d)).toBe("3 months");
    expect(humanDuration(3 * 365 * MS.d)).toBe("3 years");
    const now = new Date("2026-01-01T00:00:00Z");
    expect(createdAgo("2025-12-31T23:59:00Z", now)).toBe("about a minute ago");
    expect(createdAgo("2026-01-01T01:00:00+01:00", now)).toBe("less than a second ago");
    expect(createdAgo("", now)).toBe("");
    expect(createdAgo("2025-12-31", now)).toBe("");
  });

  it("scales columns to the terminal as textcolumns' RecalculateWidths and cuts with …", () => {
    const cols = [{ name: "repository" }, { name: "tag" }, { name: "digest", width: 12, fixed: true }, { name: "created" }];
    expect(scaleWidths(cols, 100)).toEqual([29, 28, 12, 28]);
    expect(scaleWidths(cols, 80)).toEqual([22, 22, 12, 21]);
    expect(scaleWidths(cols, 10)).toEqual([1, 1, 12, 1]); // never below one character per column
    expect(shortenEnd("ghcr.io/inspektor-gadget/gadget/trace_exec", 41)).toBe("ghcr.io/inspektor-gadget/gadget/trace_ex…");
    expect(formatTable(cols, [["a", "b", "c", ""]], { truncate: false })).toBe("REPOSITORY TAG DIGEST CREATED\na b c \n");
  });
});

describe("gadget image list (ig's fixture)", () => {
  it("piped: one space between full values, full digest, RFC 3339 CREATED", async () => {
    const r = await runGadget(["image", "list", "--oci-store", store]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`REPOSITORY TAG DIGEST CREATED\ntrace_open latest ${IG_FIXTURE_INDEX_DIGEST} 2024-05-15T18:45:32Z\n`);
  });

  it("on a terminal: cells padded to the terminal's width, 12-hex digest, go-units CREATED", async () => {
    const out = await onTerminal(100, ["image", "list", "--oci-store", store]);
    const created = createdAgo("2024-05-15T18:45:32Z");
    expect(created).toMatch(/^\d+ (months|years) ago$/);
    const pad = (s: string, w: number) => s + " ".repeat(w - s.length);
    expect(out).toBe(
      `${pad("REPOSITORY", 29)} ${pad("TAG", 28)} ${pad("DIGEST", 12)} ${pad("CREATED", 28)}\n` +
        `${pad("trace_open", 29)} ${pad("latest", 28)} 87c3ecca8d84 ${pad(created, 28)}\n`,
    );
  });

  it("on a terminal with --no-trunc: the piped layout", async () => {
    const out = await onTerminal(100, ["image", "list", "--no-trunc", "--oci-store", store]);
    expect(out).toBe(`REPOSITORY TAG DIGEST CREATED\ntrace_open latest ${IG_FIXTURE_INDEX_DIGEST} 2024-05-15T18:45:32Z\n`);
  });

  it("-o json and -o jsonpretty are Go's json.Marshal/MarshalIndent of GadgetImageDesc, no trailing newline", async () => {
    const j = await runGadget(["image", "list", "-o", "json", "--oci-store", store]);
    expect(j.stdout).toBe(`[{"Repository":"trace_open","Tag":"latest","Digest":"${IG_FIXTURE_INDEX_DIGEST}","Created":"2024-05-15T18:45:32Z"}]`);
    const p = await runGadget(["image", "list", "-o", "jsonpretty", "--oci-store", store]);
    expect(p.stdout).toBe(`[\n  {\n    "Repository": "trace_open",\n    "Tag": "latest",\n    "Digest": "${IG_FIXTURE_INDEX_DIGEST}",\n    "Created": "2024-05-15T18:45:32Z"\n  }\n]`);
    // on a terminal JSON is the same bytes
    expect(await onTerminal(100, ["image", "list", "-o", "json", "--oci-store", store])).toBe(j.stdout);
    const bad = await runGadget(["image", "list", "-o", "yaml", "--oci-store", store]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('Error: invalid usage: invalid output mode "yaml", valid values are: columns, json, jsonpretty\n');
  });

  it("sorts by full reference, shows TAG latest for a digest-only reference, cuts long names with …", async () => {
    const s2 = `${dir}/store2`;
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
    await makeImage(s2, "localhost:5000/zeta/b:v1", { created: iso(now - 90 * MS.min) });
    const a = await makeImage(s2, "docker.io/library/alpha:v2", { created: iso(now - 30 * MS.h) });
    const long = await makeImage(s2, "ghcr.io/some-organisation/with-a-long-name/gadget:v1", { created: iso(now - 10 * MS.d) });
    const byDigest = await runGadget(["image", "tag", "docker.io/library/alpha:v2", `localhost:5000/pinned@${a.index.digest}`, "--oci-store", s2]);
    expect(byDigest.code, byDigest.stderr).toBe(0);
    const piped = await runGadget(["image", "list", "--oci-store", s2]);
    expect(piped.stdout.split("\n").map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual([
      "REPOSITORY TAG",
      "docker.io/library/alpha v2",
      "ghcr.io/some-organisation/with-a-long-name/gadget v1",
      "localhost:5000/pinned latest",
      "localhost:5000/zeta/b v1",
      "",
    ]);
    const tty = (await onTerminal(80, ["image", "list", "--oci-store", s2])).split("\n");
    // 80 columns: REPOSITORY 22, TAG 22, DIGEST 12, CREATED 21
    expect(tty[0]).toBe("REPOSITORY             TAG                    DIGEST       CREATED              ");
    expect(tty[1]).toBe(`docker.io/library/alpha v2                     ${a.index.digest.slice(7, 19)} 30 hours ago         `.replace("docker.io/library/alpha ", "docker.io/library/alp… "));
    expect(tty[2]).toBe(`ghcr.io/some-organisa… v1                     ${long.index.digest.slice(7, 19)} 10 days ago          `);
    expect(tty[4]).toMatch(/^localhost:5000\/zeta\/b {2}v1 {21}[a-f0-9]{12} 2 hours ago {10}$/);
  });
});
