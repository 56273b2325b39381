/**
 * Shows a run's rich outputs (ExecResult.outputs) as DOM nodes, none of which can run the
 * script's markup as code in the page: images and SVG as `<img>` from blob URLs (an image
 * runs no script), HTML in an iframe with `sandbox=""` (no script, no same origin, no forms)
 * and `srcdoc`, markdown and other text as plain text.
 */
import type { RichOutput } from '../../src/index.js';

/** Builds the nodes for `outputs`; blob URLs it made are freed by the returned `revoke`. */
export function renderOutputs(doc: Document, outputs: RichOutput[]): { nodes: HTMLElement[]; revoke(): void } {
  const urls: string[] = [];
  const nodes = outputs.map((o, i) => {
    const box = doc.createElement('figure');
    box.className = 'output';
    box.dataset.mime = o.mime;
    const label = doc.createElement('figcaption');
    label.textContent = `${i + 1} · ${o.mime}`;
    if (o.mime.startsWith('image/')) {
      const img = doc.createElement('img');
      const bytes = typeof o.data === 'string' ? new TextEncoder().encode(o.data) : o.data;
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: o.mime }));
      urls.push(url);
      img.src = url;
      img.alt = `output ${i + 1} (${o.mime})`;
      box.append(img);
    } else if (o.mime === 'text/html' && typeof o.data === 'string') {
      const frame = doc.createElement('iframe');
      // Empty sandbox: no script, an opaque origin, no forms, popups or top navigation.
      frame.setAttribute('sandbox', '');
      frame.srcdoc = o.data;
      frame.title = `output ${i + 1} (HTML)`;
      box.append(frame);
    } else {
      const pre = doc.createElement('pre');
      pre.textContent = typeof o.data === 'string' ? o.data : `${o.data.length} bytes of ${o.mime}`;
      box.append(pre);
    }
    box.append(label);
    return box;
  });
  return { nodes, revoke: () => urls.forEach((u) => URL.revokeObjectURL(u)) };
}
