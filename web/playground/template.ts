/** The element's markup; element.ts fills it in. `part` names let a page restyle pieces. */
export const TEMPLATE = `
<div class="pg" part="frame">
  <div class="bar" part="toolbar">
    <select class="lang" aria-label="Language">
      <option value="python">Python</option>
      <option value="lua">Lua</option>
    </select>
    <select class="examples" aria-label="Examples"></select>
    <span class="spacer"></span>
    <button class="run" type="button" title="Run (Ctrl/Cmd+Enter)">Run <kbd>⌘/Ctrl+↵</kbd></button>
    <button class="stop" type="button" disabled title="Interrupt the running script">Stop</button>
    <button class="reset" type="button" title="Start a new session: forget every name defined so far">Reset</button>
    <button class="save" type="button" title="Save this session (its names, imports and files) in the browser, to reopen after a reload">Save</button>
    <select class="saved" aria-label="Saved sessions"></select>
  </div>
  <div class="main">
    <div class="editor" part="editor"></div>
    <section class="out" part="output" aria-label="Output" aria-live="polite">
      <p class="placeholder">Press Run to execute the code. Names you define stay for the next run until Reset.</p>
      <div class="pane notes" hidden><pre></pre></div>
      <div class="pane error" hidden><h3>Error</h3><pre></pre></div>
      <div class="pane result" hidden><h3>Result</h3><pre></pre></div>
      <div class="pane stdout" hidden><h3>stdout</h3><pre></pre></div>
      <form class="input-row" hidden><label><span class="prompt"></span><input name="line" autocomplete="off" aria-label="Input for the script"></label><button type="submit">Enter</button></form>
      <div class="pane outputs" hidden><h3>Outputs</h3><pre hidden></pre><div class="items"></div></div>
      <div class="pane stderr" hidden><h3>stderr</h3><pre></pre></div>
      <div class="pane log" hidden><h3>host.log</h3><pre></pre></div>
    </section>
    <aside class="side" part="sidebar">
      <fieldset class="caps">
        <legend>Capabilities</legend>
        <div class="toggles"></div>
        <p class="hint">A script may call only what is on. Changing these starts a new session at the next run.</p>
      </fieldset>
      <section class="kv" aria-label="kv store">
        <div class="row"><h3>kv store (shared)</h3><button class="kv-clear" type="button">Clear</button></div>
        <table><tbody></tbody></table>
        <p class="placeholder kv-empty">empty</p>
      </section>
      <p class="notice isolation" hidden></p>
    </aside>
  </div>
  <div class="status" part="status" role="status" data-state="idle">
    <span class="dot"></span><span class="text">starting…</span><progress hidden></progress><span class="sep" hidden>·</span><span class="stats"></span>
  </div>
</div>`;

/** Why toggles grant what they grant, shown as tooltips. */
export const TOGGLE_HELP: Record<string, string> = {
  log: 'host.log(msg, level)',
  kv: 'host.kv.get / set / delete / keys (capabilities kv.read, kv.write)',
  channel: 'host.channel.send / receive (channel.send, channel.receive)',
  fetch: 'host.fetch(url) to this page\u2019s own origin (net.fetch)',
  config: 'host.config.get("origin") and ("language") (config.read)',
};

/** What a page without cross-origin isolation cannot do, in the words the notice uses. */
export const NOT_ISOLATED =
  'This page is not cross-origin isolated (no COOP/COEP headers), so the engine runs over postMessage. ' +
  'Blocking host calls such as host.kv.get(...) raise UnavailableError; in Python use await host.aio.kv.get(...). ' +
  'Stop cannot interrupt in place: it restarts the engine, and names from earlier runs are lost.';
