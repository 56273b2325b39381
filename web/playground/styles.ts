/** The element's stylesheet (it lives in the shadow root, so a host page's CSS cannot break it). */
export const STYLES = `
:host { display: block; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
  --accent: #2f6fed; --bg: #ffffff; --panel: #f5f7fa; --line: #d9dee7; --err: #b42318; --ok: #127a3a; }
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
.pg { display: flex; flex-direction: column; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); overflow: hidden; height: 100%; }
.bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; padding: 8px; border-bottom: 1px solid var(--line); background: var(--panel); }
.bar .spacer { flex: 1; }
select, button { font: inherit; height: 32px; border-radius: 6px; border: 1px solid var(--line); background: #fff; padding: 0 10px; color: inherit; }
button { cursor: pointer; }
button:disabled { opacity: .45; cursor: default; }
button.run { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
button.stop:not(:disabled) { border-color: var(--err); color: var(--err); }
select.saved { max-width: 12em; }
kbd { font: 11px ui-monospace, monospace; opacity: .8; }
.main { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(0, 1.2fr) minmax(0, 1fr) 230px; }
.editor { min-height: 260px; border-right: 1px solid var(--line); overflow: auto; }
.editor .cm-editor { height: 100%; font-size: 13.5px; }
.editor .cm-editor.cm-focused { outline: none; }
.out { overflow: auto; padding: 8px; display: flex; flex-direction: column; gap: 8px; min-height: 160px; border-right: 1px solid var(--line); }
.pane h3, .side h3, legend { margin: 0 0 4px; font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: #5b6473; font-weight: 600; }
.pane pre { margin: 0; padding: 6px 8px; background: var(--panel); border-radius: 6px; white-space: pre-wrap; word-break: break-word;
  font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; max-height: 40vh; overflow: auto; }
.pane.error pre { background: #fdecea; color: var(--err); }
.pane.result pre { background: #e9f6ee; color: #0d5a2b; }
.pane.stderr pre { color: #8a4b00; }
.input-row { display: flex; gap: 6px; align-items: center; }
.input-row[hidden] { display: none; }
.input-row label { flex: 1; display: flex; gap: 6px; align-items: center; font: 12.5px ui-monospace, monospace; }
.input-row input { flex: 1; font: inherit; height: 28px; border: 1px solid var(--accent); border-radius: 6px; padding: 0 6px; }
.outputs .items { display: flex; flex-direction: column; gap: 8px; }
.output { margin: 0; }
.output img { max-width: 100%; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.output iframe { width: 100%; min-height: 120px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.output figcaption { font-size: 11px; color: #5b6473; }
.placeholder { color: #8a93a3; font-style: italic; margin: 4px 0; }
.side { padding: 8px; overflow: auto; display: flex; flex-direction: column; gap: 12px; }
fieldset { border: 0; padding: 0; margin: 0; }
.caps label { display: flex; gap: 6px; align-items: center; padding: 2px 0; cursor: pointer; }
.caps code, .kv code { font: 12px ui-monospace, monospace; }
.caps .hint { font-size: 12px; color: #5b6473; margin: 4px 0 0; }
.kv table { width: 100%; border-collapse: collapse; font: 12px ui-monospace, monospace; }
.kv td { border-top: 1px solid var(--line); padding: 3px 4px; vertical-align: top; word-break: break-all; }
.kv td:first-child { color: var(--accent); white-space: nowrap; }
.kv tr.fresh td { background: #fff6d6; transition: background 1s; }
.kv .row { display: flex; justify-content: space-between; align-items: center; }
.kv button { height: 24px; font-size: 12px; padding: 0 8px; }
.notice { font-size: 12px; background: #fff6d6; border: 1px solid #f0d58a; border-radius: 6px; padding: 6px 8px; margin: 0; }
.status { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; padding: 6px 10px; border-top: 1px solid var(--line); background: var(--panel); font-size: 12.5px; color: #3b4453; min-height: 32px; }
.status .dot { width: 9px; height: 9px; border-radius: 50%; background: #a0a8b5; flex: none; }
.status[data-state="ready"] .dot { background: var(--ok); }
.status[data-state="busy"] .dot { background: #e6a700; animation: pulse 1s infinite; }
.status[data-state="error"] .dot { background: var(--err); }
.status progress { width: 120px; height: 8px; }
.status .sep { color: #a0a8b5; }
@keyframes pulse { 50% { opacity: .3; } }
@media (max-width: 900px) {
  .main { grid-template-columns: minmax(0, 1fr); grid-template-rows: auto; }
  .editor { border-right: 0; border-bottom: 1px solid var(--line); min-height: 220px; max-height: 50vh; }
  .out { border-right: 0; border-bottom: 1px solid var(--line); }
  .bar .spacer, kbd { display: none; }
  .bar select { flex: 1 1 40%; min-width: 0; }
  .bar button { flex: 1 1 0; }
}
`;
