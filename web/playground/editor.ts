/**
 * The code editor: CodeMirror 6 with Python or Lua highlighting, swapped in place when the
 * language changes, and Ctrl/Cmd+Enter bound to Run.
 */
import { python } from '@codemirror/lang-python';
import { StreamLanguage } from '@codemirror/language';
import { lua } from '@codemirror/legacy-modes/mode/lua';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import type { Language } from '../../src/index.js';

const modes = { python: () => python(), lua: () => StreamLanguage.define(lua) };

export interface Editor {
  readonly view: EditorView;
  get code(): string;
  set code(text: string);
  setLanguage(language: Language): void;
  focus(): void;
}

export function createEditor(parent: HTMLElement, root: ShadowRoot, opts: { language: Language; code: string; onRun(): void }): Editor {
  const mode = new Compartment();
  const view = new EditorView({
    root,
    parent,
    state: EditorState.create({
      doc: opts.code,
      extensions: [
        // Before basicSetup's keymap, which binds Mod-Enter to "insert blank line".
        Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (opts.onRun(), true) }])),
        basicSetup,
        mode.of(modes[opts.language]()),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': 'code editor' }),
      ],
    }),
  });
  return {
    view,
    get code() {
      return view.state.doc.toString();
    },
    set code(text: string) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    setLanguage(language) {
      view.dispatch({ effects: mode.reconfigure(modes[language]()) });
    },
    focus() {
      view.focus();
    },
  };
}
