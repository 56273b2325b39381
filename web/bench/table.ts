/**
 * The results table and the run's step list. Everything from a report is set as text,
 * never as markup: a loaded file is untrusted.
 */
import { num, unitLabel, variantNote, type Paired } from './report.js';
import type { Step } from './steps.js';

function cell(row: HTMLTableRowElement, text: string, cls?: string, title?: string): void {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (title) td.title = title;
}

/** median, p95 (only where there are several samples) and n, or dashes. */
function numbers(row: HTMLTableRowElement, r: Paired['browser']): void {
  cell(row, r ? num(r.median) : '—', 'n');
  cell(row, r && r.samples > 1 ? num(r.p95) : '—', 'n');
  cell(row, r ? String(r.samples) : '', 'n dim');
}

/** Fills `tbody` with one row per paired result. */
export function renderTable(tbody: HTMLTableSectionElement, rows: Paired[]): void {
  tbody.replaceChildren();
  for (const p of rows) {
    const tr = tbody.insertRow();
    if (p.target.startsWith('baseline/')) tr.className = 'baseline';
    cell(tr, p.workload);
    cell(tr, p.target, 'mono');
    const notes = [
      variantNote(p.variant, 'browser') && `browser: ${variantNote(p.variant, 'browser')}`,
      variantNote(p.variant, 'node') && `Node: ${variantNote(p.variant, 'node')}`,
    ].filter(Boolean);
    cell(tr, p.variant || '', 'variant', notes.join('; ') || undefined);
    numbers(tr, p.browser);
    numbers(tr, p.node);
    cell(tr, unitLabel(p.unit));
    const ratio = p.browser && p.node && p.node.median > 0 ? p.browser.median / p.node.median : undefined;
    cell(tr, ratio === undefined ? '' : `${num(ratio)}×`, 'n');
  }
  if (!rows.length) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = 11;
    td.className = 'empty';
    td.textContent = 'No results yet: run the browser bench, or load a Node bench JSON.';
  }
}

const MARK: Record<Step['state'], string> = { running: '◔', done: '✓', failed: '✗' };

/** The run's steps as a list: which one is running, and what it is doing. */
export function renderSteps(ol: HTMLOListElement, steps: readonly Step[]): void {
  ol.replaceChildren(
    ...steps.map((s) => {
      const li = document.createElement('li');
      li.dataset.state = s.state;
      const mark = document.createElement('span');
      mark.className = 'mark';
      mark.textContent = MARK[s.state];
      const label = document.createElement('span');
      label.textContent = s.label;
      li.append(mark, label);
      if (s.detail) {
        const d = document.createElement('span');
        d.className = 'detail';
        d.textContent = s.detail;
        li.append(d);
      }
      return li;
    }),
  );
}
