/**
 * sslmode / sslrootcert as psql users know them (libpq). pg's own URL parser treats
 * `require` and `verify-ca` as `verify-full` unless told otherwise, so a Supabase URL with
 * `sslmode=require` failed on Supabase's own CA; with `uselibpqcompat=true` it follows
 * libpq: `require` encrypts without verifying (verifies the chain when a root certificate
 * is given), `verify-ca` checks the chain, `verify-full` the chain and the host name.
 * PGSSLROOTCERT is honoured as libpq does when the URL names no sslrootcert.
 */
export interface TlsOptions {
  /** PGSSLROOTCERT, read at the edge (src/config.ts). */
  sslRootCert?: string | undefined;
}

const VERIFYING = new Set(['require', 'verify-ca', 'verify-full']);

/** The connection string pg is given: libpq semantics switched on, the CA file filled in from PGSSLROOTCERT. */
export function withLibpqTls(url: string, options: TlsOptions = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const mode = u.searchParams.get('sslmode');
  if (mode === null || u.searchParams.has('uselibpqcompat')) return url;
  u.searchParams.set('uselibpqcompat', 'true');
  if (VERIFYING.has(mode) && !u.searchParams.has('sslrootcert') && options.sslRootCert) u.searchParams.set('sslrootcert', options.sslRootCert);
  return u.toString();
}

/**
 * What to change when TLS fails, in the words of the setting that fixes it; null when the
 * failure is not about TLS.
 */
export function tlsHint(cause: unknown, url: string, variable: string): string | null {
  const err = cause as { code?: string; message?: string } | null;
  const code = err?.code ?? '';
  const message = err?.message ?? '';
  let mode: string | null = null;
  try {
    mode = new URL(url).searchParams.get('sslmode');
  } catch {
    /* unparsable: no mode */
  }
  if (['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED'].includes(code)) {
    return `the server's certificate is not signed by a CA ferry was given (${code}): add sslrootcert=/path/to/ca.pem to ${variable} or set PGSSLROOTCERT (Supabase: Project Settings → Database → SSL, "Download certificate"); or sslmode=require to encrypt without verifying`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name the host in ${variable} (${message}): connect by a host name the certificate names, or use sslmode=verify-ca (checks the CA, not the name)`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `the server's certificate is not valid now (${code}): renew it on the server, or check this machine's clock`;
  }
  if (code === 'ENOENT' && /sslrootcert|\.pem|\.crt/i.test(message + url)) {
    return `the CA file named by sslrootcert (or PGSSLROOTCERT) does not exist: fix the path in ${variable} or PGSSLROOTCERT`;
  }
  if (/does not support SSL/i.test(message)) {
    return `the server does not accept TLS connections: remove sslmode from ${variable} (or sslmode=disable), or turn ssl on in the server`;
  }
  if (/no pg_hba\.conf entry .*no encryption/i.test(message) && mode !== null && !VERIFYING.has(mode)) {
    return `the server only accepts TLS: add sslmode=require (or verify-full with sslrootcert) to ${variable}`;
  }
  if (/verify-ca requires specifying a CA/i.test(message)) {
    return `sslmode=verify-ca needs the CA: add sslrootcert=/path/to/ca.pem to ${variable} or set PGSSLROOTCERT`;
  }
  return null;
}
