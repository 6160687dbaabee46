import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesize } from '../../charts/synthesize.js';
import { dashboardPictures, PICTURES_DIR } from '../../scripts/dashboard-pictures.js';
import { buildDashboard, buildDashboards, dashboardExpressions, dashboardPanels, GRID_COLUMNS, timeseries } from './index.js';
import { renderLayoutSvg } from './picture.js';

const all = (name: 'local' | 'ibm', set: string[] = []) => {
  const env = loadEnvironment(name, { imageTag: '1.0.0', set });
  return buildDashboards(env.monitoring, synthesize(env).topology);
};

describe('dashboards', () => {
  it('builds the app, HAProxy and data tier dashboards; no HAProxy dashboard without HAProxy', () => {
    expect(all('ibm').map((d) => d.name)).toEqual(['expense-app', 'expense-haproxy', 'expense-data']);
    expect(all('ibm', ['haproxy.enabled=false']).map((d) => d.name)).toEqual(['expense-app', 'expense-data']);
    expect(all('local').map((d) => d.dashboard.uid)).toEqual(['expense-app-local', 'expense-haproxy-local', 'expense-data-local']);
  });

  for (const env of ['local', 'ibm'] as const) {
    it(`${env}: panels fill the 24-column grid without overlaps, with unique ids and the data source variable`, () => {
      for (const { name, dashboard } of all(env)) {
        const cells = new Map<string, number>();
        const ids = new Set<number>();
        for (const p of dashboard.panels ?? []) {
          const g = p.gridPos!;
          expect(g.x + g.w, `${name}/${p.title}`).toBeLessThanOrEqual(GRID_COLUMNS);
          expect(ids.has(p.id!), `${name}: duplicate id ${p.id}`).toBe(false);
          ids.add(p.id!);
          for (let x = g.x; x < g.x + g.w; x++) {
            for (let y = g.y; y < g.y + g.h; y++) {
              const key = `${x},${y}`;
              expect(cells.get(key), `${name}: "${p.title}" overlaps panel ${cells.get(key)} at ${key}`).toBeUndefined();
              cells.set(key, p.id!);
            }
          }
        }
        for (const p of dashboardPanels(dashboard)) {
          expect(p.description, `${name}/${p.title}`).toBeTruthy();
          expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect((p.targets ?? []).length).toBeGreaterThan(0);
          for (const t of p.targets ?? []) expect(t).toMatchObject({ datasource: { uid: '${datasource}' }, refId: expect.stringMatching(/^[A-Z]$/) });
        }
        expect(dashboard.templating?.list?.[0]).toMatchObject({ type: 'datasource', name: 'datasource', query: 'prometheus' });
        expect(new Set(dashboardPanels(dashboard).map((p) => p.title)).size).toBe(dashboardPanels(dashboard).length);
        expect(dashboardExpressions(dashboard).every((e) => e.includes(`namespace="expense-tracker"`))).toBe(true);
      }
    });
  }

  it('rejects panels that do not fit the grid', () => {
    const panel = { panel: timeseries('x', [{ expr: 'up' }], { unit: 'short', description: 'x' }), width: 25, height: 8 };
    expect(() => buildDashboard({ uid: 'u', title: 't', description: 'd', tags: [], rows: [{ title: 'r', panels: [panel] }] })).toThrow(/panel width must be 1-24, got 25/);
  });

  it('docs/dashboards/*.svg are current (run npm run dashboards:pictures after changing a dashboard)', () => {
    for (const [file, svg] of dashboardPictures()) {
      expect(readFileSync(join(PICTURES_DIR, file), 'utf8'), `docs/dashboards/${file} is out of date: run npm run dashboards:pictures`).toBe(svg);
    }
  });

  it('pictures every panel at its grid position, deterministically', () => {
    const { dashboard } = all('ibm')[0];
    const svg = renderLayoutSvg(dashboard);
    expect(renderLayoutSvg(dashboard)).toBe(svg);
    expect(svg.match(/<g id="panel-/g)?.length).toBe(dashboardPanels(dashboard).length);
    expect(svg).toContain('▾ Service level objectives');
    expect(svg).toContain('Dashboard latency p99 against the objective');
  });
});
