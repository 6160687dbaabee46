/**
 * Entry point of the Pulumi program (`main: stacks/` in Pulumi.yaml). The Node.js language
 * host imports this file with `--import tsx` (runtime option `nodeargs`), calls the default
 * export and uses its result as the stack outputs. Only a default export is allowed here:
 * Pulumi rejects an entry module with both default and named exports.
 */
import { program } from './program.js';

export default program;
