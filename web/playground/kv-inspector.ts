/** The live view of the shared kv store: redrawn (at most once a frame) after each change. */
import { formatValue } from './format.js';
import type { ObservedStore } from './observed-store.js';

export class KvInspector {
  private readonly stop: () => void;
  private queued = false;
  private last = new Map<string, string>();

  constructor(
    private readonly box: HTMLElement,
    private readonly store: ObservedStore,
  ) {
    this.stop = store.onChange(() => this.schedule());
    this.schedule();
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      void this.render();
    });
  }

  private async render(): Promise<void> {
    let entries;
    try {
      entries = await this.store.entries();
    } catch {
      return; // closed: the element is going away
    }
    const now = new Map(entries.map(([k, v]) => [k, formatValue(v, 'python')]));
    const rows = [...now].map(([k, text]) => {
      const tr = document.createElement('tr');
      if (this.last.get(k) !== text) tr.className = 'fresh';
      const key = document.createElement('td');
      key.textContent = k;
      const value = document.createElement('td');
      value.textContent = text;
      tr.append(key, value);
      return tr;
    });
    this.box.querySelector('tbody')!.replaceChildren(...rows);
    (this.box.querySelector('.kv-empty') as HTMLElement).hidden = rows.length > 0;
    this.last = now;
  }

  dispose(): void {
    this.stop();
  }
}
