import * as z from 'zod';
import type { BundlePins } from '../../agents/code-interpreter/index.js';
import type { RunStore } from './run-store.js';

const Pin = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().positive() });

/**
 * The run store as the keeper of bundle pins (agents/code-interpreter/bundle-cache.ts): an
 * artifact per key, written once like every artifact. A body that is not a pin is no pin.
 */
export function storeBundlePins(store: Pick<RunStore, 'getArtifact' | 'putArtifact'>): BundlePins {
  const hash = (key: string) => `bundle-pin:${key}`;
  return {
    async pinned(key) {
      const found = await store.getArtifact(hash(key));
      const pin = found?.kind === 'bundle_pin' ? Pin.safeParse(found.body) : null;
      return pin?.success ? pin.data : null;
    },
    async pin(key, bundle) {
      await store.putArtifact('bundle_pin', Pin.parse(bundle), hash(key));
    },
  };
}
