/** What a registry login resolves to. Never printed or logged (DESIGN §2). */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker config `identitytoken`; a helper's `<token>` user). */
  identityToken?: string;
  /** A bearer token to send as-is (docker config `registrytoken`). */
  registryToken?: string;
  /** Where it came from, for -v messages: a file path or `docker-credential-<name>`. */
  source?: string;
}

export function isEmptyCredential(c: Credential | undefined): boolean {
  return !c || (!c.username && !c.password && !c.identityToken && !c.registryToken);
}
