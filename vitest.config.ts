import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // 2 cores: two test files at a time; integration tests spawn clang, registries, skopeo.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
