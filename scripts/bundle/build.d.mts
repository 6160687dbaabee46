/** Types of build.mjs. */
import type bundles from './bundles.cjs';
/** Builds bundle `name` (a key of BUNDLES, or any name with `options.entry`); see build.mjs. */
export function buildBundle(name: string, options?: { root?: string; entry?: string }): Promise<bundles.Manifest>;
