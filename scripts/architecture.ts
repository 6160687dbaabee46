/**
 * `npm run architecture` rewrites the generated pictures of docs/architecture.md from the code:
 *
 * - the layers: which top-level folder imports which (from the import statements of every
 *   non-test TypeScript file; `@expense-tracker/<package>` counts as that folder);
 * - the construct tree of one environment: the chart's constructs and the Kubernetes objects each
 *   one emits, walked from a synthesized `ExpenseTrackerChart`.
 *
 * Both are Mermaid flowcharts between `<!-- generated:<name> -->` and `<!-- /generated:<name> -->`
 * markers; `scripts/architecture.test.ts` fails when the document and the code disagree.
 * `--check` exits 1 instead of writing when the document is out of date.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiObject, App } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { instanceName } from '@expense-tracker/model/naming';
import { ExpenseTrackerChart } from '../charts/expense-tracker-chart.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The architecture document. */
export const ARCHITECTURE_DOC = join(ROOT, 'docs', 'architecture.md');

/** The layers drawn, ground floor first; `app` means the app's sources (`app/src`). */
export const LAYERS = ['model', 'haproxy', 'monitoring', 'charts', 'stacks', 'tools', 'scripts', 'app', 'testkit'] as const;
export type Layer = (typeof LAYERS)[number];

/** Source directory of a layer, relative to the repository root. */
function layerDir(layer: Layer): string {
  return layer === 'app' ? 'app/src' : layer;
}

function sources(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return ['node_modules', 'dist', 'imports', 'test'].includes(e.name) ? [] : sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Which layer a module specifier imported from `file` points at, if any. */
function targetLayer(file: string, specifier: string): Layer | undefined {
  let path: string;
  if (specifier.startsWith('@expense-tracker/')) path = specifier.split('/')[1];
  else if (specifier.startsWith('.')) path = relative(ROOT, normalize(join(dirname(file), specifier)));
  else return undefined;
  if (path.startsWith('app/src') || path === 'expense-tracker') return 'app';
  const top = path.split('/')[0];
  return (LAYERS as readonly string[]).includes(top) && top !== 'app' ? (top as Layer) : undefined;
}

/** Layer → the layers its non-test sources import. */
export function layerGraph(root = ROOT): Map<Layer, Set<Layer>> {
  const graph = new Map<Layer, Set<Layer>>(LAYERS.map((l) => [l, new Set<Layer>()]));
  for (const layer of LAYERS) {
    for (const file of sources(join(root, layerDir(layer)))) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/(?:^|\s)(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const target = targetLayer(file, specifier);
        if (target && target !== layer) graph.get(layer)!.add(target);
      }
    }
  }
  return graph;
}

/** One line per layer: what it is. */
const LAYER_LABELS: Record<Layer, string> = {
  model: 'model/<br/>environments, schema, app contract, images, names',
  haproxy: 'haproxy/<br/>typed cfg → haproxy.cfg',
  monitoring: 'monitoring/<br/>rules, dashboards, settings',
  charts: 'charts/<br/>constructs, synthesize(), validator',
  stacks: 'stacks/<br/>Pulumi program and components',
  tools: 'tools/<br/>process library, Docker engine, Pulumi CLI',
  scripts: 'scripts/<br/>user commands',
  app: 'app/src<br/>the expense tracker',
  testkit: 'testkit/<br/>test cluster, loopback servers',
};

/** The layer graph as a Mermaid flowchart (an arrow points at what is imported). */
export function layersMermaid(graph: Map<Layer, Set<Layer>> = layerGraph()): string {
  const lines = ['flowchart BT'];
  for (const layer of LAYERS) lines.push(`  ${layer}["${LAYER_LABELS[layer]}"]`);
  for (const layer of LAYERS) for (const target of LAYERS.filter((t) => graph.get(layer)!.has(t))) lines.push(`  ${layer} --> ${target}`);
  return lines.join('\n');
}

/** The Kubernetes object a construct stands for: an ApiObject, or a cdk8s-plus resource's. */
function objectOf(c: IConstruct): ApiObject | undefined {
  if (c instanceof ApiObject) return c;
  const api = (c as { apiObject?: unknown }).apiObject;
  return api instanceof ApiObject ? api : undefined;
}

/**
 * The construct tree of an environment's chart as a Mermaid flowchart: our constructs as boxes,
 * the Kubernetes objects they emit as rounded nodes (`Kind/name`). References to objects outside
 * the chart (imported Secrets, ConfigMaps) and helpers that emit nothing are left out.
 */
export function constructTreeMermaid(environmentName = 'local'): string {
  const environment = loadEnvironment(environmentName, { imageTag: 'TAG' });
  const chart = new ExpenseTrackerChart(new App(), instanceName(environment.name), { environment });
  const lines = ['flowchart LR'];
  let next = 0;
  const emits = (c: IConstruct): boolean => objectOf(c) !== undefined || c.node.children.some(emits);
  const visit = (c: IConstruct, parent: string | undefined): void => {
    const api = objectOf(c);
    const id = `n${next++}`;
    if (api) lines.push(`  ${id}(["${api.kind}/${api.name}"])`);
    else lines.push(`  ${id}["${c.constructor.name}${parent ? '' : `<br/>${c.node.id}`}"]`);
    if (parent) lines.push(`  ${parent} --> ${id}`);
    // An object's own children are its L1 resource (the same object) or helpers: not drawn.
    if (api) return;
    for (const child of c.node.children) if (emits(child)) visit(child, id);
  };
  visit(chart, undefined);
  return lines.join('\n');
}

/** The generated blocks of the document, by marker name. */
export function generatedBlocks(): Record<string, string> {
  return { layers: layersMermaid(), 'construct-tree': constructTreeMermaid('local') };
}

/**
 * `doc` with every generated block replaced by its current content.
 * @throws Error naming a marker that is missing from the document
 */
export function renderArchitectureDoc(doc: string, blocks = generatedBlocks()): string {
  let out = doc;
  for (const [name, content] of Object.entries(blocks)) {
    const start = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${ARCHITECTURE_DOC}: markers ${start} … ${end} not found`);
    out = `${out.slice(0, a + start.length)}\n\`\`\`mermaid\n${content}\n\`\`\`\n${out.slice(b)}`;
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const doc = readFileSync(ARCHITECTURE_DOC, 'utf8');
  const updated = renderArchitectureDoc(doc);
  if (process.argv.includes('--check')) {
    if (updated !== doc) {
      console.error(`architecture: ${ARCHITECTURE_DOC} is out of date: run npm run architecture`);
      process.exitCode = 1;
    }
  } else if (updated !== doc) {
    writeFileSync(ARCHITECTURE_DOC, updated);
    console.log(`architecture: updated ${ARCHITECTURE_DOC}`);
  } else {
    console.log(`architecture: ${ARCHITECTURE_DOC} is current`);
  }
}
