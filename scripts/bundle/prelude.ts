/**
 * Imported first by every bundle (scripts/bundle/bundles.cjs), so it runs before any other module
 * of a one-shot command is evaluated.
 *
 * zod compiles an object schema into a specialised parser on its first parse (`new Function`).
 * A command parses each environment once, so compiling costs more than it saves (about 15 ms
 * per run); long-lived processes (tests, Pulumi programs) keep zod's default.
 */
import { config } from 'zod';

config({ jitless: true });
