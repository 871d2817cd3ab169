import { describe, expect, it } from "vitest";
import { displayRepository, normalizeReference, parseReference } from "../../core/oci/reference.js";

const HEX = "a".repeat(64);

describe("image names are normalized as ig does (DESIGN §3)", () => {
  const table: [string, string][] = [
    ["trace_open", "ghcr.io/inspektor-gadget/gadget/trace_open:latest"],
    ["trace_open:v0.30.0", "ghcr.io/inspektor-gadget/gadget/trace_open:v0.30.0"],
    ["xyz/gadget/t", "ghcr.io/xyz/gadget/t:latest"],
    ["localhost:5000/t", "localhost:5000/t:latest"],
    ["localhost/t", "localhost/t:latest"],
    ["foo.bar:443/a/b:v1", "foo.bar:443/a/b:v1"],
    ["ghcr.io/inspektor-gadget/gadget/trace_exec:latest", "ghcr.io/inspektor-gadget/gadget/trace_exec:latest"],
    ["ghcr.io/trace_exec", "ghcr.io/inspektor-gadget/gadget/trace_exec:latest"],
    ["docker.io/x", "docker.io/library/x:latest"],
    ["index.docker.io/user/x:1", "docker.io/user/x:1"],
    ["Registry/a", "Registry/a:latest"],
    [`trace_open@sha256:${HEX}`, `ghcr.io/inspektor-gadget/gadget/trace_open@sha256:${HEX}`],
    [`127.0.0.1:5000/a:t@sha256:${HEX}`, `127.0.0.1:5000/a:t@sha256:${HEX}`],
    ["a/b", "ghcr.io/a/b:latest"],
    ["my-gadget_1.x", "ghcr.io/inspektor-gadget/gadget/my-gadget_1.x:latest"],
    // issue 17 gap 9: ig's normalizeImageName prefixes the domain first, so distribution's
    // "cannot specify 64-byte hexadecimal strings" check (on the whole name) never fires
    [HEX, `ghcr.io/inspektor-gadget/gadget/${HEX}:latest`],
  ];
  for (const [input, want] of table) {
    it(`${input} → ${want}`, () => expect(normalizeReference(input)).toBe(want));
  }

  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["https://ghcr.io/x", /scheme/],
    ["UPPER", /lowercase/],
    ["ghcr.io/Foo/bar", /lowercase/],
    ["a b", /invalid reference format/],
    // issue 17 gap 9: ig does not trim (" trace_open" fails reference.ParseNormalizedNamed)
    [" trace_open", /whitespace/],
    ["trace_open\n", /whitespace/],
    ["x:", /invalid reference format/],
    ["x@sha256:abc", /invalid reference format|digest/],
    ["x:bad tag", /invalid reference format/],
    ["-x", /invalid reference format/],
    ["x/" + "a".repeat(300), /255 characters/],
    ["../etc/passwd", /invalid reference format/],
  ];
  for (const [input, why] of bad) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
      expect(() => parseReference(input)).toThrow(why);
      try {
        parseReference(input);
      } catch (e) {
        expect((e as Error).message).toContain("invalid image name");
      }
    });
  }

  it("list trims the official prefix only", () => {
    expect(displayRepository(parseReference("trace_open"))).toBe("trace_open");
    expect(displayRepository(parseReference("ghcr.io/xyz/t"))).toBe("ghcr.io/xyz/t");
  });
});
