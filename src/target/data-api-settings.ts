import { InputError } from '../core/errors.js';

/** Supabase Data API settings read from the environment (config.ts): kept apart from data-api.ts so reading them loads no client or SQL code. */
export interface DataApiSettings {
  /** SUPABASE_URL: https://<project-ref>.supabase.co */
  url: string;
  /** SUPABASE_ANON_KEY: reads as anon; also the apikey sent with SUPABASE_ACCESS_TOKEN. */
  anonKey: string | undefined;
  /** SUPABASE_SERVICE_ROLE_KEY: reads as service_role. */
  serviceRoleKey: string | undefined;
  /** SUPABASE_ACCESS_TOKEN: a signed-in user's access token; reads as authenticated. */
  accessToken: string | undefined;
}

/** The client ferry reports as using (pinned in package.json). */
export const DATA_API_CLIENT = '@supabase/supabase-js 2.109.0';

/** Characters of encoded keys per in.(…) filter: well under the 8 KiB request line proxies and PostgREST's server accept. */
export const KEY_FILTER_BUDGET = 4000;

/** Rows fetched by key and compared with the database, spread evenly over the run's rows. */
export const SAMPLE_ROWS = 50;

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/** Differences listed in the report; the rest are counted in the warning. */

/**
 * The Data API settings from their environment values (read in config.ts), or undefined when
 * none is set. A partial setting is refused, saying what is missing, never half used.
 */
export function dataApiSettings(values: { url?: string | undefined; anonKey?: string | undefined; serviceRoleKey?: string | undefined; accessToken?: string | undefined }): DataApiSettings | undefined {
  const url = values.url || undefined;
  const anonKey = values.anonKey || undefined;
  const serviceRoleKey = values.serviceRoleKey || undefined;
  const accessToken = values.accessToken || undefined;
  if (!url) {
    if (anonKey || serviceRoleKey || accessToken) {
      throw new InputError('CONFIG_INVALID', 'a Supabase key is set (SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY or SUPABASE_ACCESS_TOKEN) but SUPABASE_URL is not', {
        hint: 'export SUPABASE_URL=https://<project-ref>.supabase.co (Project Settings → API), or unset the keys to read through Postgres only',
      });
    }
    return undefined;
  }
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new InputError('CONFIG_INVALID', `SUPABASE_URL must be an http(s) URL such as https://<project-ref>.supabase.co, not ${JSON.stringify(url)}`, {
      hint: 'copy the Project URL from Supabase: Project Settings → API',
    });
  }
  // The service_role key reads everything: it travels over TLS, or stays on this machine (the Supabase CLI's http://127.0.0.1:54321).
  if (parsed.protocol === 'http:' && !LOOPBACK.test(parsed.hostname)) {
    throw new InputError('CONFIG_INVALID', `SUPABASE_URL ${parsed.origin} is plain http to another machine: the keys would travel unencrypted`, {
      hint: `use https://${parsed.host} (every Supabase project URL is https); plain http is accepted for localhost only`,
    });
  }
  if (!anonKey && !serviceRoleKey) {
    throw new InputError('CONFIG_INVALID', 'SUPABASE_URL is set but neither SUPABASE_ANON_KEY nor SUPABASE_SERVICE_ROLE_KEY is', {
      hint: 'export SUPABASE_ANON_KEY (and SUPABASE_SERVICE_ROLE_KEY to read as service_role) from Project Settings → API, or unset SUPABASE_URL',
    });
  }
  if (accessToken && !anonKey) {
    throw new InputError('CONFIG_INVALID', 'SUPABASE_ACCESS_TOKEN is set without SUPABASE_ANON_KEY: the Data API wants the anon key as apikey beside a user\'s token', {
      hint: 'export SUPABASE_ANON_KEY from Project Settings → API',
    });
  }
  return { url: url.replace(/\/+$/, ''), anonKey, serviceRoleKey, accessToken };
}

/** A JWT's payload, unverified (the Data API verifies it); null for keys that are not JWTs (sb_publishable_…, sb_secret_…). */
export function jwtClaims(token: string): Record<string, unknown> | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export interface Credential {
  role: string;
  credential: string;
  apikey: string;
  bearer: string;
  user: string | null;
}

/** The roles the settings can read as, with the warnings a key that claims another role earns. */
export function credentialsOf(s: DataApiSettings): { credentials: Credential[]; warnings: string[] } {
  const wanted: Array<[string, string, string | undefined, string | undefined]> = [
    ['anon', 'SUPABASE_ANON_KEY', s.anonKey, s.anonKey],
    ['authenticated', 'SUPABASE_ACCESS_TOKEN', s.anonKey, s.accessToken],
    ['service_role', 'SUPABASE_SERVICE_ROLE_KEY', s.serviceRoleKey, s.serviceRoleKey],
  ];
  const credentials: Credential[] = [];
  const warnings: string[] = [];
  for (const [expected, credential, apikey, bearer] of wanted) {
    if (!apikey || !bearer) continue;
    const claims = jwtClaims(bearer);
    const claimed = typeof claims?.role === 'string' ? claims.role : null;
    // The Data API reads as the role the token claims, whatever variable held it: report that role.
    if (claimed && claimed !== expected) warnings.push(`${credential} holds a token for role ${claimed}, not ${expected}: it is reported as ${claimed}`);
    credentials.push({ role: claimed ?? expected, credential, apikey, bearer, user: typeof claims?.sub === 'string' ? claims.sub : null });
  }
  return { credentials, warnings };
}
