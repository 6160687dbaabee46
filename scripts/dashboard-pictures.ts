/**
 * `npm run dashboards:pictures [-- --check]`
 *
 * Writes `docs/dashboards/<name>.svg`, a picture of each Grafana dashboard's panel layout as the
 * `ibm` environment (monitoring on) synthesizes it, for docs/observability.md. `--check` writes
 * nothing and exits 1 when a picture is missing or differs from a fresh render.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesize } from '../charts/synthesize.js';
import { buildDashboards } from '../monitoring/dashboards/index.js';
import { renderLayoutSvg } from '../monitoring/dashboards/picture.js';

/** Where the pictures live. */
export const PICTURES_DIR = resolve(import.meta.dirname, '..', 'docs', 'dashboards');
/** The environment pictured. */
export const PICTURED_ENVIRONMENT = 'ibm';

/** File name → SVG of every dashboard of the pictured environment. */
export function dashboardPictures(): Map<string, string> {
  // A fixed image tag: the pictures must not change with the app's version.
  const env = loadEnvironment(PICTURED_ENVIRONMENT, { imageTag: '0.0.0' });
  const dashboards = buildDashboards(env.monitoring, synthesize(env).topology);
  return new Map(dashboards.map((d) => [`${d.name}.svg`, renderLayoutSvg(d.dashboard)]));
}

async function main(argv: string[]): Promise<number> {
  let check: boolean;
  try {
    check = parseArgs({ args: argv, options: { check: { type: 'boolean', default: false } }, strict: true }).values.check!;
  } catch (error) {
    console.error(`dashboards:pictures: ${(error as Error).message}\nusage: npm run dashboards:pictures -- [--check]`);
    return 2;
  }
  const pictures = dashboardPictures();
  if (check) {
    const stale: string[] = [];
    for (const [file, svg] of pictures) if ((await readFile(join(PICTURES_DIR, file), 'utf8').catch(() => '')) !== svg) stale.push(file);
    if (stale.length > 0) {
      console.error(`dashboards:pictures: docs/dashboards/${stale.join(', docs/dashboards/')} out of date; run npm run dashboards:pictures`);
      return 1;
    }
    return 0;
  }
  await mkdir(PICTURES_DIR, { recursive: true });
  for (const [file, svg] of pictures) await writeFile(join(PICTURES_DIR, file), svg);
  console.log(`dashboards:pictures: ${[...pictures.keys()].join(', ')} → ${PICTURES_DIR}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
