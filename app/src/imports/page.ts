/**
 * The Import page (`GET /imports`) and its script (`GET /static/import.js`, same-origin, as the
 * CSP requires). The script previews the file's first 64 KiB through `POST /api/imports/preview`
 * (the server's own detection and normalization, so the preview is exactly what will be imported),
 * lets the user correct the column mapping and format, uploads the file with progress events, then
 * polls `GET /api/imports/:id` until the import is done.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { html, type Html } from '../html.js';
import { layout, type PageContext } from '../views/layout.js';
import { pageContext } from '../plugins/html.js';
import { hasUser } from '../plugins/session.js';
import { DATE_FORMATS } from './formats.js';
import { DEFAULT_CATEGORY } from './options.js';
import { formatBytes } from './api.js';
import { listImports, type ImportRecord } from './repo.js';

export interface ImportsPageOptions {
  pool: pg.Pool;
  /** Largest file accepted (bytes), shown on the page. */
  maxBytes: number;
  /** False when imports are not configured (the page says so). */
  enabled: boolean;
}

const STATE_LABELS: Record<ImportRecord['state'], string> = {
  receiving: 'uploading',
  queued: 'waiting',
  processing: 'importing',
  done: 'done',
  failed: 'failed',
};

export function importsPage(ctx: PageContext, imports: ImportRecord[], maxBytes: number, enabled: boolean): Html {
  const select = (id: string, label: string, extra = '') =>
    html`<label>${label} <select id="${id}" name="${id}" data-mapping ${extra}></select></label>`;
  return layout(
    ctx,
    html`<h1>Import a statement</h1>
<div class="card"><p>Import the CSV export of your bank or card account. Separators <code>,</code> <code>;</code> tab or <code>|</code>,
decimal point or comma, quoted fields, a header row, UTF-8 with or without BOM; files up to ${formatBytes(maxBytes)}.
Rows you imported before are recognised and not added twice.</p>
${
  enabled
    ? html`<label>Statement file <input type="file" id="import-file" accept=".csv,.txt,.tsv,text/csv" data-testid="import-file"></label>
<noscript><p class="error">This page needs JavaScript. Without it, upload with the API: <code>curl --data-binary @statement.csv -H 'content-type: text/csv' …/api/imports</code></p></noscript>`
    : html`<p class="error" data-testid="error">Imports are not available on this server.</p>`
}</div>
<div class="card" id="import-mapping" hidden>
<h2>Columns</h2>
<p class="muted">Check that the preview shows your rows as you expect; change a column or the format and it updates.</p>
<form class="inline" id="import-form">
${select('date', 'Date')}${select('amount', 'Amount')}${select('debit', 'or Debit')}${select('currency', 'Currency')}${select('category', 'Category')}
${select('description', 'Description')}${select('description2', 'and')}
<label>Separator <select id="delimiter" data-format><option value=",">,</option><option value=";">;</option><option value="tab">tab</option><option value="|">|</option></select></label>
<label>Decimal <select id="decimal" data-format><option value=".">1,234.56</option><option value=",">1.234,56</option></select></label>
<label>Dates <select id="dateFormat" data-format>${DATE_FORMATS.map((f) => html`<option value="${f}">${f}</option>`)}</select></label>
<label>Header row <select id="header" data-format><option value="true">yes</option><option value="false">no</option></select></label>
<label>Expenses are <select id="expenses" data-format><option value="negative">negative amounts</option><option value="positive">positive amounts</option></select></label>
<label>Default currency <input id="defaultCurrency" data-format size="4" maxlength="3"></label>
<label>Default category <input id="defaultCategory" data-format maxlength="40" value="${DEFAULT_CATEGORY}"></label>
</form>
<p id="import-problem" class="error" hidden data-testid="import-problem"></p>
<ul id="import-warnings" class="muted"></ul>
<div class="scroll"><table id="import-preview" data-testid="import-preview"></table></div>
<p><button class="primary" id="import-start" type="button" data-testid="import-start">Import</button></p>
</div>
<div class="card" id="import-status" hidden data-testid="import-status">
<h2 id="import-title">Importing</h2>
<label>Upload <progress id="import-upload" max="1" value="0"></progress></label>
<label>Import <progress id="import-progress" max="1" value="0" data-testid="import-progress"></progress></label>
<p id="import-message" role="status" data-testid="import-message"></p>
<p><a id="import-errors" hidden data-testid="import-errors" download>Download the rows that could not be imported (CSV)</a></p>
</div>
<div class="card"><h2>Recent imports</h2>${
      imports.length === 0
        ? html`<p class="muted">No imports yet.</p>`
        : html`<table data-testid="imports"><thead><tr><th>File</th><th>Uploaded</th><th>State</th><th class="num">Added</th><th class="num">Already there</th><th class="num">Skipped</th><th class="num">Errors</th></tr></thead><tbody>
${imports.map(
  (i) => html`<tr><td>${i.fileName}</td><td>${i.createdAt.toISOString().slice(0, 16).replace('T', ' ')}</td><td title="${i.error ?? ''}">${STATE_LABELS[i.state]}</td>
<td class="num">${i.rowsInserted}</td><td class="num">${i.rowsDuplicate}</td><td class="num">${i.rowsSkipped}</td>
<td class="num">${i.rowsFailed > 0 ? html`<a href="/api/imports/${i.id}/errors" download>${i.rowsFailed}</a>` : '0'}</td></tr>`,
)}</tbody></table>`
    }</div>
<script src="/static/import.js" defer></script>`,
  );
}

/** The page's script (no framework, no build step). */
export const IMPORT_SCRIPT = String.raw`'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const fileInput = $('import-file');
  if (!fileInput) return;
  const SAMPLE = 64 * 1024;
  const MAPPING = ['date', 'amount', 'debit', 'currency', 'category', 'description', 'description2'];
  const FORMAT = ['delimiter', 'decimal', 'dateFormat', 'header', 'expenses', 'defaultCurrency', 'defaultCategory'];
  let file = null;
  let options = null;
  let timer = null;

  const text = (tag, value, cls) => { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; };
  const show = (id, on) => { $(id).hidden = !on; };

  function query() {
    const q = new URLSearchParams();
    for (const id of FORMAT) { const v = $(id).value.trim(); if (v !== '') q.set(id, v); }
    for (const id of MAPPING) {
      const v = $(id).value;
      if (v === '') {
        if (id === 'currency' || id === 'category') q.set(id, 'none'); // not "detect it again"
        continue;
      }
      if (id === 'description' || id === 'description2') q.append('description', v); else q.set(id, v);
    }
    return q;
  }

  function fillSelects(columns, mapping) {
    for (const id of MAPPING) {
      const sel = $(id);
      sel.replaceChildren();
      const none = text('option', id === 'date' ? '(choose)' : '(none)'); none.value = ''; sel.append(none);
      columns.forEach((c, i) => { const o = text('option', c); o.value = String(i + 1); sel.append(o); });
      let v = null;
      if (mapping) {
        if (id === 'description') v = mapping.description[0];
        else if (id === 'description2') v = mapping.description[1];
        else v = mapping[id];
      }
      sel.value = v === null || v === undefined ? '' : String(v + 1);
    }
  }

  function fillFormat(o) {
    $('delimiter').value = o.format.delimiter === '\t' ? 'tab' : o.format.delimiter;
    $('decimal').value = o.format.decimal;
    $('dateFormat').value = o.format.dateFormat;
    $('header').value = String(o.format.header);
    $('expenses').value = o.expenses;
    $('defaultCurrency').value = o.defaultCurrency;
    $('defaultCategory').value = o.defaultCategory;
  }

  function renderPreview(res) {
    const table = $('import-preview');
    table.replaceChildren();
    const head = document.createElement('tr');
    for (const c of res.columns) head.append(text('th', c));
    if (res.ok) for (const h of ['→ date', 'amount', 'currency', 'category', 'description']) head.append(text('th', h, 'import-result'));
    const thead = document.createElement('thead'); thead.append(head); table.append(thead);
    const body = document.createElement('tbody');
    for (const r of res.rows) {
      const tr = document.createElement('tr');
      for (let i = 0; i < res.columns.length; i++) tr.append(text('td', r.fields[i] ?? ''));
      const x = r.result;
      if (x && x.kind === 'row') {
        tr.append(text('td', x.spentOn), text('td', (x.amountCents / 100).toFixed(2), 'num'), text('td', x.currency), text('td', x.category), text('td', x.description));
      } else if (x) {
        const td = text('td', x.kind === 'skip' ? 'skipped: ' + x.reason : 'error: ' + x.reason, x.kind === 'skip' ? 'muted' : 'bad');
        td.colSpan = 5; tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    const warnings = $('import-warnings');
    warnings.replaceChildren(...(res.warnings || []).map((w) => text('li', w)));
    show('import-problem', !res.ok);
    $('import-problem').textContent = res.ok ? '' : res.error.message;
    $('import-start').disabled = !res.ok;
  }

  async function preview(initial) {
    const q = initial ? new URLSearchParams() : query();
    q.set('size', String(file.size));
    const head = file.slice(0, SAMPLE);
    const res = await fetch('/api/imports/preview?' + q, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: head });
    const body = await res.json();
    if (!res.ok) {
      show('import-mapping', false);
      show('import-status', true);
      $('import-title').textContent = 'This file cannot be imported';
      $('import-message').textContent = body.message;
      return;
    }
    if (body.ok) options = body.options;
    if (initial) {
      fillSelects(body.columns, body.ok ? body.options.mapping : null);
      if (body.ok) fillFormat(body.options);
    }
    renderPreview(body);
    show('import-mapping', true);
    show('import-status', false);
  }

  fileInput.addEventListener('change', () => {
    file = fileInput.files && fileInput.files[0];
    if (file) void preview(true);
  });
  for (const el of document.querySelectorAll('[data-mapping],[data-format]')) {
    el.addEventListener('change', () => { if (file) void preview(false); });
  }

  function progressText(imp) {
    const r = imp.rows;
    if (imp.state === 'done') {
      return 'Done: ' + r.inserted + ' expenses added, ' + r.duplicate + ' already there, ' + r.skipped + ' skipped (credits), ' + r.failed + ' rows with errors.';
    }
    if (imp.state === 'failed') return 'Failed: ' + imp.error;
    if (imp.state === 'queued') return 'Waiting for the importer…';
    if (imp.phase === 'merging') return 'Adding expenses: ' + r.merged + ' of ' + r.staged + ' rows…';
    return 'Reading the file: ' + r.read + ' rows…';
  }

  function track(imp) {
    $('import-progress').value = imp.progress;
    $('import-message').textContent = progressText(imp);
    const errors = $('import-errors');
    errors.hidden = imp.rows.failed === 0;
    errors.href = imp.links.errors;
    if (imp.state === 'done' || imp.state === 'failed') {
      $('import-title').textContent = imp.state === 'done' ? 'Imported' : 'Import failed';
      return;
    }
    timer = setTimeout(async () => {
      const res = await fetch(imp.links.self);
      if (res.ok) track(await res.json());
    }, 1000);
  }

  $('import-start').addEventListener('click', () => {
    if (!file) return;
    clearTimeout(timer);
    const q = query();
    q.set('name', file.name.slice(0, 255));
    show('import-mapping', false);
    show('import-status', true);
    $('import-title').textContent = 'Importing ' + file.name;
    $('import-message').textContent = 'Uploading…';
    $('import-errors').hidden = true;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/imports?' + q);
    xhr.setRequestHeader('content-type', 'text/csv');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) $('import-upload').value = e.loaded / e.total; };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201 || xhr.status === 202) { $('import-upload').value = 1; track(body); return; }
      $('import-title').textContent = 'The upload was refused';
      $('import-message').textContent = body && body.message ? body.message : 'HTTP ' + xhr.status;
    };
    xhr.onerror = () => { $('import-message').textContent = 'The upload failed (connection lost). Try again: rows imported already are not added twice.'; };
    xhr.send(file);
  });
})();
`;

const importsPagePlugin: FastifyPluginAsync<ImportsPageOptions> = async (app, opts) => {
  app.get('/imports', { config: { auth: 'user' } }, async (req, reply) => {
    if (!hasUser(req)) return reply.redirect('/login', 303);
    const imports = opts.enabled ? await listImports(opts.pool, req.user!.id, 10) : [];
    return reply.page(importsPage(pageContext(req, reply, 'Import'), imports, opts.maxBytes, opts.enabled));
  });
  app.get('/static/import.js', { config: { auth: 'none' } }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(IMPORT_SCRIPT),
  );
};

export default importsPagePlugin;
