/**
 * A connected-set source's URL fit to print and audit, the way MongoDB URIs are
 * (`redis://<credentials>@host:6379`): userinfo and every query value are
 * replaced, since a token may travel under any parameter name.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparsable URL>';
  }
  const credentials = parsed.username !== '' || parsed.password !== '' ? '<credentials>@' : '';
  const keys = [...new Set(parsed.searchParams.keys())];
  const query = keys.length === 0 ? '' : `?${keys.map((key) => `${encodeURIComponent(key)}=<credentials>`).join('&')}`;
  return `${parsed.protocol}//${credentials}${parsed.host}${parsed.pathname}${query}`;
}
