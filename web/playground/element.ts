/**
 * `<scriptbox-playground language="python" capabilities="log,kv">code</scriptbox-playground>`:
 * an editor, Run/Stop/Reset, output panes, capability toggles and a live kv inspector,
 * running the code in a ScriptBox engine in a Web Worker. Package export `scriptbox/playground`;
 * the page must be served with the `scriptbox/vite` plugin (it serves the engines' files).
 */
import { openSnapshotStore, type ExecResult, type Language, type LogEntry, type SnapshotStore } from '../../src/index.js';
import { createEditor, type Editor } from './editor.js';
import { EXAMPLES } from './examples.js';
import { dedent, formatBytes, formatMs, formatValue } from './format.js';
import { KvInspector } from './kv-inspector.js';
import { ObservedStore } from './observed-store.js';
import { renderOutputs } from './rich-outputs.js';
import { PlaygroundSessions, TOGGLE_NAMES, parseToggles, type RunOutcome, type Toggle } from './session.js';
import { STYLES } from './styles.js';
import { NOT_ISOLATED, TEMPLATE, TOGGLE_HELP } from './template.js';

const LANGUAGES: Language[] = ['python', 'lua'];
const NAMES: Record<Language, string> = { python: 'Python', lua: 'Lua' };

/** Detail of the `run` event the element fires after every run. */
export interface PlaygroundRunDetail extends RunOutcome {
  language: Language;
}

export class ScriptboxPlayground extends HTMLElement implements AsyncDisposable {
  static readonly observedAttributes = ['language', 'capabilities'];

  private readonly root = this.attachShadow({ mode: 'open' });
  private readonly store = new ObservedStore();
  private readonly sessions = new PlaygroundSessions(this.store, {
    output: (stream, text) => this.appendText(stream, text),
    log: (e) => this.appendLog(e),
    input: (prompt) => this.askLine(prompt),
    booting: (lang, busy) => this.onBooting(lang, busy),
  });
  private editor?: Editor;
  private kv?: KvInspector;
  private current: Language = 'python';
  private toggles = new Set<Toggle>();
  private readonly buffers: Partial<Record<Language, string>> = {};
  private running = false;
  private finished = 0;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private disposed = false;
  private seen: IntersectionObserver | undefined;
  /** Frees the blob URLs of the outputs on show. */
  private revokeOutputs: (() => void) | undefined;
  /** Where saved sessions live (IndexedDB), opened on first use. */
  private saved: Promise<SnapshotStore> | undefined;
  /** Answers the script's pending read, if it waits for one. */
  private answerLine: ((line: string | null) => void) | undefined;

  private $<T extends Element = HTMLElement>(sel: string): T {
    return this.root.querySelector(sel) as T;
  }

  /** The language the editor and Run use now. */
  get language(): Language {
    return this.current;
  }
  set language(value: Language) {
    this.setAttribute('language', value);
  }

  /** Runs finished so far (successful or not). */
  get runs(): number {
    return this.finished;
  }

  /** The code in the editor. */
  get code(): string {
    return this.editor?.code ?? this.buffers[this.current] ?? '';
  }
  set code(text: string) {
    if (this.editor) this.editor.code = text;
    else this.buffers[this.current] = text;
  }

  connectedCallback(): void {
    if (this.editor || this.disposed) return;
    this.root.innerHTML = `<style>${STYLES}</style>${TEMPLATE}`;
    this.readAttributes();
    this.buffers[this.current] ??= dedent(this.textContent ?? '') || this.firstExample(this.current);
    this.editor = createEditor(this.$('.editor'), this.root, {
      language: this.current,
      code: this.buffers[this.current]!,
      onRun: () => void this.run(),
    });
    this.kv = new KvInspector(this.$('.kv'), this.store);
    this.renderToggles();
    this.renderExamples();
    void this.renderSaved();
    this.wire();
    if (!globalThis.crossOriginIsolated) {
      const note = this.$('.isolation');
      note.textContent = NOT_ISOLATED;
      note.hidden = false;
    }
    // Boot once the element is on screen: a page of many snippets does not start an engine
    // (tens of MB for Python) for each one it may never run. Run boots at once anyway.
    this.status('idle', `${NAMES[this.current]} starts when this comes into view or on Run`);
    this.seen = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      this.seen?.disconnect();
      this.seen = undefined;
      if (!this.running) void this.boot();
    });
    this.seen.observe(this);
  }

  /** Starts the current language's engine (if it is not up) and reports it in the status line. */
  private boot(): Promise<void> {
    this.status('busy', `Starting ${NAMES[this.current]}…`);
    return this.sessions.prepare(this.current, this.toggles).then(
      () => this.ready(),
      (e: unknown) => this.failed(e),
    );
  }

  disconnectedCallback(): void {
    // A move in the document disconnects and reconnects at once: keep the engines then.
    queueMicrotask(() => {
      if (!this.isConnected) void this.dispose();
    });
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (!this.editor || old === value) return;
    if (name === 'language') this.switchLanguage(this.checkLanguage(value));
    if (name === 'capabilities') {
      this.toggles = this.checkToggles(value);
      this.renderToggles();
    }
  }

  private checkLanguage(value: string | null): Language {
    if (value === null || value === '') return 'python';
    if ((LANGUAGES as string[]).includes(value)) return value as Language;
    this.note(`language="${value}" is not supported: use "python" or "lua". Showing Python.`);
    return 'python';
  }

  private checkToggles(value: string | null): Set<Toggle> {
    const { on, unknown } = parseToggles(value);
    if (unknown.length)
      this.note(`capabilities: ${unknown.map((u) => `"${u}"`).join(', ')} unknown; the playground offers ${TOGGLE_NAMES.join(', ')}.`);
    return on;
  }

  private readAttributes(): void {
    this.current = this.checkLanguage(this.getAttribute('language'));
    this.toggles = this.checkToggles(this.getAttribute('capabilities'));
    this.$<HTMLSelectElement>('.lang').value = this.current;
  }

  private firstExample(lang: Language): string {
    return EXAMPLES.find((e) => e.language === lang)?.code ?? '';
  }

  private wire(): void {
    this.$('.run').addEventListener('click', () => void this.run());
    this.$('.stop').addEventListener('click', () => this.stop());
    this.$('.reset').addEventListener('click', () => void this.reset());
    this.$('.save').addEventListener('click', () => void this.saveSession().catch((e: unknown) => this.failed(e)));
    this.$<HTMLSelectElement>('.saved').addEventListener('change', (e) => {
      const sel = e.target as HTMLSelectElement;
      const [verb, name] = [sel.value.slice(0, sel.value.indexOf(':')), sel.value.slice(sel.value.indexOf(':') + 1)];
      sel.value = '';
      if (verb === 'open') void this.openSession(name).catch((x: unknown) => this.failed(x));
      if (verb === 'delete') void this.deleteSession(name).catch((x: unknown) => this.failed(x));
    });
    this.$('.kv-clear').addEventListener('click', () => void this.store.clear());
    this.$<HTMLSelectElement>('.lang').addEventListener('change', (e) => {
      this.language = (e.target as HTMLSelectElement).value as Language;
    });
    this.$<HTMLSelectElement>('.examples').addEventListener('change', (e) => {
      const sel = e.target as HTMLSelectElement;
      const ex = EXAMPLES.find((x) => x.id === sel.value);
      sel.value = '';
      if (!ex) return;
      if (ex.language !== this.current) this.language = ex.language;
      this.code = ex.code;
      const missing = ex.needs.filter((n) => !this.toggles.has(n as Toggle));
      if (missing.length)
        this.note(
          `This example needs ${missing.join(', ')}: turn ${missing.length > 1 ? 'them' : 'it'} on under Capabilities, or see the PermissionError it raises.`,
        );
    });
  }

  private switchLanguage(lang: Language): void {
    if (lang === this.current) return;
    this.buffers[this.current] = this.code;
    this.current = lang;
    this.$<HTMLSelectElement>('.lang').value = lang;
    this.editor!.setLanguage(lang);
    this.editor!.code = this.buffers[lang] ?? this.firstExample(lang);
    this.renderExamples();
    void this.renderSaved();
    if (!this.running && !this.seen) void this.boot();
  }

  // ---- saved sessions (docs/session-snapshots.md) --------------------------------------

  private store_(): Promise<SnapshotStore> {
    this.saved ??= openSnapshotStore();
    return this.saved;
  }

  /** Saves the current language's session in the browser (IndexedDB); resolves to its name. */
  async saveSession(name?: string): Promise<string> {
    const snap = await this.sessions.snapshot(this.current);
    if (!snap) throw new Error(`There is no ${NAMES[this.current]} session to save yet: run something first.`);
    const saveAs = name ?? `${this.current}-${new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')}`;
    await (await this.store_()).save(saveAs, snap);
    this.note(
      `Saved this ${NAMES[this.current]} session as "${saveAs}" (${formatBytes(snap.size)}): reopen it from the list, after a reload too.`,
    );
    await this.renderSaved();
    return saveAs;
  }

  /** Replaces the session of the snapshot's language with the saved one. */
  async openSession(name: string): Promise<void> {
    const snap = await (await this.store_()).load(name);
    if (!snap) throw new Error(`No saved session is named "${name}".`);
    if (this.running) this.stop();
    this.language = snap.language;
    this.switchLanguage(snap.language);
    this.status('busy', `Opening "${name}"…`);
    await this.sessions.open(snap.language, snap, this.toggles);
    this.clearPanes();
    this.note(
      `Opened "${name}": the names, imports and files of that session are back. Capabilities are the toggles' (a snapshot grants none).`,
    );
    this.ready();
  }

  async deleteSession(name: string): Promise<boolean> {
    const had = await (await this.store_()).delete(name);
    await this.renderSaved();
    return had;
  }

  /** Names of the sessions saved for every language, newest first. */
  async savedSessions(): Promise<string[]> {
    return (await (await this.store_()).list()).map((e) => e.name);
  }

  private async renderSaved(): Promise<void> {
    const sel = this.$<HTMLSelectElement>('.saved');
    let list: { name: string; info: { language: Language } }[] = [];
    try {
      list = (await (await this.store_()).list()).filter((e) => e.info.language === this.current);
    } catch {
      // No IndexedDB here (a private mode): the list stays empty; Save reports why.
    }
    const group = (label: string, verb: string) => {
      const g = document.createElement('optgroup');
      g.label = label;
      g.append(...list.map((e) => new Option(e.name, `${verb}:${e.name}`)));
      return g;
    };
    sel.replaceChildren(
      new Option(list.length ? 'Saved sessions…' : 'No saved sessions', ''),
      ...(list.length ? [group('Open', 'open'), group('Delete', 'delete')] : []),
    );
  }

  private renderToggles(): void {
    const box = this.$('.toggles');
    box.replaceChildren(
      ...TOGGLE_NAMES.map((t) => {
        const label = document.createElement('label');
        label.title = TOGGLE_HELP[t] ?? '';
        const input = document.createElement('input');
        input.type = 'checkbox';
        input.name = t;
        input.checked = this.toggles.has(t);
        input.addEventListener('change', () => {
          if (input.checked) this.toggles.add(t);
          else this.toggles.delete(t);
        });
        const code = document.createElement('code');
        code.textContent = t;
        label.append(input, code);
        return label;
      }),
    );
  }

  private renderExamples(): void {
    const sel = this.$<HTMLSelectElement>('.examples');
    const first = new Option('Examples…', '');
    sel.replaceChildren(first, ...EXAMPLES.filter((e) => e.language === this.current).map((e) => new Option(e.title, e.id)));
  }

  /** Runs the editor's code in this language's session; resolves with what the run produced. */
  async run(): Promise<PlaygroundRunDetail | undefined> {
    if (this.running || this.disposed) return undefined;
    const lang = this.current;
    const code = this.code;
    this.running = true;
    this.seen?.disconnect(); // this run boots the engine; nothing to wait for
    this.seen = undefined;
    this.clearPanes();
    this.setBusy(true);
    const started = performance.now();
    this.tick(() => `Running… ${formatMs(performance.now() - started)}`);
    try {
      const outcome = await this.sessions.run(lang, code, this.toggles);
      this.show(lang, outcome);
      const detail: PlaygroundRunDetail = { ...outcome, language: lang };
      this.dispatchEvent(new CustomEvent('run', { detail }));
      return detail;
    } catch (e) {
      this.failed(e);
      return undefined;
    } finally {
      this.running = false;
      this.answerLine?.(null); // a read still waiting when the run ended (stopped) sees end of input
      this.finished++;
      this.setBusy(false);
    }
  }

  /** Interrupts the running script (escalating to a restart of the engine if it does not stop). */
  stop(): void {
    if (!this.running) return;
    this.sessions.stop(this.current);
    this.tick(() => 'Stopping…');
  }

  /** Forgets this language's session; the next run starts a new one. */
  async reset(): Promise<void> {
    if (this.running) this.stop();
    await this.sessions.reset(this.current);
    this.clearPanes();
    this.note(`New ${NAMES[this.current]} session: names from earlier runs are gone (the kv store is kept; Clear empties it).`);
    await this.boot();
  }

  private show(lang: Language, o: RunOutcome): void {
    const r: ExecResult = o.result;
    this.pane('stdout', r.stdout);
    this.showOutputs(r);
    this.pane('stderr', r.stderr + (r.truncated ? '\n[output truncated at the engine\u2019s maxOutputBytes]' : ''));
    if (r.success) {
      if (r.value !== undefined && r.value !== null) this.pane('result', formatValue(r.value, lang));
    } else if (r.error) {
      const head = `${r.error.type}: ${r.error.message}`;
      const tb = r.error.traceback?.trim();
      // A Python traceback ends with the type and message already.
      this.pane('error', !tb ? head : tb.includes(r.error.message) ? tb : `${head}\n\n${tb}`);
    }
    if (o.restarted) this.note('The engine was restarted to stop the script: names defined in earlier runs are gone.');
    this.$('.placeholder').hidden = true;
    const stats = `ran in ${formatMs(r.durationMs)} · heap ${formatBytes(o.memoryBytes)}`;
    this.status(r.success ? 'ready' : 'error', `${NAMES[lang]} ${r.success ? 'ready' : (r.error?.type ?? 'failed')}`, stats);
  }

  private ready(): void {
    if (this.running) return;
    const boot = this.sessions.bootTime(this.current);
    const mode = globalThis.crossOriginIsolated ? 'shared memory' : 'postMessage';
    this.status(
      'ready',
      `${NAMES[this.current]} ready`,
      `${boot !== undefined ? `booted in ${formatMs(boot)} · ` : ''}Web Worker · ${mode}`,
    );
  }

  private failed(e: unknown): void {
    const err = e as { name?: string; code?: string; message?: string };
    this.pane('error', `${err.name ?? 'Error'}${err.code ? ` (${err.code})` : ''}: ${err.message ?? String(e)}`);
    this.$('.placeholder').hidden = true;
    this.status('error', `${NAMES[this.current]} failed to run`);
  }

  private onBooting(lang: Language, busy: boolean): void {
    if (!busy || lang !== this.current) return;
    const started = performance.now();
    const what =
      lang === 'python'
        ? 'Loading Pyodide (first load compiles ~10 MB of WebAssembly; later loads restore a cached snapshot)'
        : 'Loading wasmoon';
    this.tick(() => `${what}… ${formatMs(performance.now() - started)}`, true);
  }

  private setBusy(busy: boolean): void {
    this.$<HTMLButtonElement>('.run').disabled = busy;
    this.$<HTMLButtonElement>('.stop').disabled = !busy;
  }

  /** Shows a ticking busy status until the next status(). */
  private tick(text: () => string, progress = false): void {
    this.status('busy', text());
    this.$('progress').hidden = !progress;
    this.ticker = setInterval(() => {
      this.$('.text').textContent = text();
    }, 100);
  }

  private status(state: 'idle' | 'busy' | 'ready' | 'error', text: string, stats = ''): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
    const line = this.$('.status');
    line.dataset.state = state;
    this.$('.text').textContent = text;
    this.$('.stats').textContent = stats;
    this.$('.sep').hidden = !stats;
    this.$('progress').hidden = true;
  }

  private pane(name: string, text: string): void {
    const pane = this.$(`.pane.${name}`);
    pane.hidden = !text;
    pane.querySelector('pre')!.textContent = text;
  }

  private appendText(name: 'stdout' | 'stderr' | 'log', text: string): void {
    const pane = this.$(`.pane.${name}`);
    pane.hidden = false;
    this.$('.placeholder').hidden = true;
    pane.querySelector('pre')!.textContent += text;
  }

  private showOutputs(r: ExecResult): void {
    this.revokeOutputs?.();
    this.revokeOutputs = undefined;
    const pane = this.$('.pane.outputs');
    const items = pane.querySelector('.items')!;
    const shown = renderOutputs(document, r.outputs ?? []);
    items.replaceChildren(...shown.nodes);
    this.revokeOutputs = shown.revoke;
    pane.hidden = shown.nodes.length === 0;
  }

  /** Shows the input row until the user presses Enter (or the run ends: end of input). */
  private askLine(prompt: string): Promise<string | null> {
    this.answerLine?.(null);
    const form = this.$<HTMLFormElement>('.input-row');
    const field = form.querySelector('input')!;
    form.querySelector('.prompt')!.textContent = prompt;
    field.value = '';
    form.hidden = false;
    this.$('.placeholder').hidden = true;
    field.focus();
    return new Promise((resolve) => {
      const done = (line: string | null) => {
        form.hidden = true;
        form.onsubmit = null;
        this.answerLine = undefined;
        resolve(line);
      };
      this.answerLine = done;
      form.onsubmit = (ev) => {
        ev.preventDefault();
        done(field.value);
      };
    });
  }

  private appendLog(e: LogEntry): void {
    this.appendText('log', `[${e.level}] ${e.message}\n`);
  }

  private note(text: string): void {
    const pane = this.$('.pane.notes');
    if (!pane) return;
    const pre = pane.querySelector('pre')!;
    pre.textContent = pre.textContent ? `${pre.textContent}\n${text}` : text;
    pane.hidden = false;
    this.$('.placeholder').hidden = true;
  }

  private clearPanes(): void {
    for (const p of this.root.querySelectorAll<HTMLElement>('.pane')) {
      p.hidden = true;
      p.querySelector('pre')!.textContent = '';
    }
    this.$('.pane.outputs .items').replaceChildren();
    this.revokeOutputs?.();
    this.revokeOutputs = undefined;
  }

  /** Stops every engine this element started and its kv store. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.seen?.disconnect();
    clearInterval(this.ticker);
    this.kv?.dispose();
    this.answerLine?.(null);
    this.revokeOutputs?.();
    await this.sessions.dispose();
    await this.store.dispose();
    await (await this.saved?.catch(() => undefined))?.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

if (!customElements.get('scriptbox-playground')) customElements.define('scriptbox-playground', ScriptboxPlayground);

declare global {
  interface HTMLElementTagNameMap {
    'scriptbox-playground': ScriptboxPlayground;
  }
}
