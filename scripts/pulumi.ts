/**
 * `npm run preview|up|destroy -- --stack <local|ibm|ci> [--refresh] [--work-dir <dir>]`
 *
 * Runs the stack through the Automation API with the local (file) backend by default and
 * streams the engine's progress. Exit status: 0 success, 1 failure, 2 bad usage.
 * Finds the Pulumi CLI as documented in tools/src/pulumi-tools/tools.ts (PULUMI_CLI, PATH,
 * binaries built by `npm run pulumi-tools`); prints how to get one when there is none.
 */
import { parseArgs } from 'node:util';
import { PulumiNotFoundError } from '@expense-tracker/tools/pulumi-tools/tools';

const OPERATIONS = ['preview', 'up', 'destroy'] as const;
type Operation = (typeof OPERATIONS)[number];

function usage(message: string): never {
  console.error(`${message}\nusage: npm run preview|up|destroy -- --stack <local|ibm|ci> [--refresh] [--work-dir <dir>]`);
  process.exit(2);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: { stack: { type: 'string', short: 's' }, refresh: { type: 'boolean', default: false }, 'work-dir': { type: 'string' } },
    });
  } catch (error) {
    usage((error as Error).message);
  }
  const [operation, ...rest] = parsed.positionals;
  if (!OPERATIONS.includes(operation as Operation)) usage(`unknown operation "${operation ?? ''}": expected ${OPERATIONS.join(', ')}`);
  if (rest.length > 0) usage(`unexpected argument "${rest[0]}"`);
  if (!parsed.values.stack) usage('--stack is required');

  const started = Date.now();
  // Loaded after the arguments are checked: the program pulls in @pulumi/kubernetes and the charts
  // (seconds of module loading), which bad usage should not wait for.
  const { openStack } = await import('./pulumi/stack.js');
  const { stack, installation, backendUrl } = await openStack({ stack: parsed.values.stack, workDir: parsed.values['work-dir'] });
  console.error(`pulumi ${operation} --stack ${stack.name} (CLI: ${installation.binary} [${installation.source}], backend: ${backendUrl})`);
  const onOutput = (text: string) => process.stdout.write(text);
  const common = { onOutput, refresh: parsed.values.refresh, color: process.stdout.isTTY ? ('always' as const) : ('never' as const) };
  switch (operation as Operation) {
    case 'preview': {
      const result = await stack.preview({ ...common, diff: false });
      console.error(`preview: ${JSON.stringify(result.changeSummary)}`);
      break;
    }
    case 'up': {
      const result = await stack.up(common);
      console.error(`up: ${result.summary.result} ${JSON.stringify(result.summary.resourceChanges ?? {})}`);
      for (const [key, value] of Object.entries(result.outputs)) console.log(`${key}: ${value.secret ? '[secret]' : JSON.stringify(value.value)}`);
      break;
    }
    case 'destroy': {
      const result = await stack.destroy(common);
      console.error(`destroy: ${result.summary.result} ${JSON.stringify(result.summary.resourceChanges ?? {})}`);
      break;
    }
  }
  console.error(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  if (error instanceof PulumiNotFoundError) {
    console.error(error.message);
  } else if (error instanceof Error && error.name === 'CommandError') {
    // The CLI's own output was streamed above; its message repeats stderr.
    console.error(`pulumi failed: ${error.message.split('\n').slice(-15).join('\n')}`);
  } else {
    console.error(error instanceof Error ? error.message : String(error));
  }
  process.exit(1);
});
