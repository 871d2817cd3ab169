import { defineConfig } from "vitest/config";

// `npm run bench`: each test/bench/*.bench.ts measures gadget against a peer in the same run and
// prints the figures (ratios); benchmarks never fail on timing.
export default defineConfig({
  test: {
    include: ["test/bench/**/*.bench.ts"],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    disableConsoleIntercept: true,
  },
});
