import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/db/connect.js';

// The text alone (unit project); the real refused connection is in redact-url.test.ts.
describe('passwords in connection strings', () => {
  it('are stripped from the URL as printed: userinfo, password and sslpassword in any case', () => {
    expect(redactUrl('postgres://app:hunter2@db.internal:6543/crm?sslmode=require&PASSWORD=hunter3&sslpassword=pem')).toBe(
      'postgres://app:***@db.internal:6543/crm?sslmode=require&PASSWORD=***&sslpassword=***',
    );
    // Not a URL the parser takes: still scrubbed, the rest kept for the person fixing it.
    expect(redactUrl('host=/run/pg password=\'a b\' dbname=crm')).toBe('host=/run/pg password=*** dbname=crm');
  });
});
