/** Token scopes (`repository:<name>:<actions>`), merged and ordered for cache keys. */

export type Action = "pull" | "push" | "delete" | "*";

export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${[...new Set(actions)].sort().join(",")}`;
}

/** Merge scopes on the same resource (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`); sorted. */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const s of scopes) {
    const i = s.lastIndexOf(":");
    if (i < 0) continue;
    const resource = s.slice(0, i);
    const set = byResource.get(resource) ?? new Set<string>();
    for (const a of s.slice(i + 1).split(",")) if (a) set.add(a);
    byResource.set(resource, set);
  }
  return [...byResource.entries()].map(([r, a]) => `${r}:${[...a].sort().join(",")}`).sort();
}
