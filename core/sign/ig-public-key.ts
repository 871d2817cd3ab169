/**
 * Inspektor Gadget's published cosign public key: ig's default for `--public-keys`, which
 * verifies the official gadgets (ghcr.io/inspektor-gadget/gadget/*). Public data, not a secret.
 */
export const INSPEKTOR_GADGET_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoDOC0gYSxZTopenGmX3ZFvQ1DSfh
Ir4EKRt5jC+mXaJ7c7J+oREskYMn/SfZdRHNSOjLTZUMDm60zpXGhkFecg==
-----END PUBLIC KEY-----
`;
