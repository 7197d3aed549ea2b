/**
 * Credentials never reach a file or a terminal: every message a backend builds from a URL or from a server's
 * answer goes through here first, because rejects.jsonl, report.json and stderr keep whatever they are given.
 */

const REDACTED = '[redacted]';

/**
 * `scheme://user:password@` in any text, up to the token's last `@`: a password may hold `/`, `?` or `#`
 * (unencoded, the way people type it), and a path holding `@` is rare enough to redact with it.
 */
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>]*@/giu;
/** `Authorization: Bearer x`, `"x-api-key": "x"`, `password=x`, `"session_token":"x"`: the key stays, the value goes. */
const SECRET_FIELD =
  /\b((?:proxy-)?authorization|[\w-]*api[-_]?key|[\w-]*access[-_]?key|[\w-]*secret[-_]?key|[\w-]*token|[\w-]*secret|password|passwd|signature)(\\?["']?\s*[:=]\s*\\?["']?)((?:bearer|basic|token|aws4-hmac-sha256)\s+)?[^\s"'\\,;&}]+/giu;
/** A bearer or basic credential anywhere else. */
const SCHEME_CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gu;

/** Text with credentials replaced: URL user info, Authorization and API key values, bearer tokens, and each of `secrets`. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let redacted = text;
  for (const secret of secrets) if (secret !== undefined && secret.length >= 4) redacted = redacted.replaceAll(secret, REDACTED);
  return redacted
    .replace(URL_USER_INFO, `$1${REDACTED}@`)
    .replace(
      SECRET_FIELD,
      (_match, key: string, separator: string, scheme: string | undefined) => `${key}${separator}${scheme ?? ''}${REDACTED}`,
    )
    .replace(SCHEME_CREDENTIAL, `$1 ${REDACTED}`);
}

/**
 * The forms a URL's user name and password may come back in from a server that echoes its request: as
 * typed, percent-decoded, as `user:password`, and base64-encoded the way HTTP Basic sends them.
 */
export function urlSecrets(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  if (parsed.username === '' && parsed.password === '') return [];
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const user = decode(parsed.username);
  const password = decode(parsed.password);
  const pair = `${user}:${password}`;
  // Longest first: a password inside the pair is replaced with the pair, not before it.
  return [...new Set([Buffer.from(pair).toString('base64'), pair, parsed.password, password, parsed.username, user])]
    .filter((secret) => secret.length >= 4)
    .sort((a, b) => b.length - a.length);
}

/** A URL as it may be shown: without user name and password. */
export function displayUrl(url: URL): string {
  if (url.username === '' && url.password === '') return url.toString();
  const shown = new URL(url.toString());
  shown.username = '';
  shown.password = '';
  return shown.toString().replace('://', `://${REDACTED}@`);
}
