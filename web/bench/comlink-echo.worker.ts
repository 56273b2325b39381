/** baseline/comlink: a worker that answers each call through comlink, as the Node harness's comlink echo does. */
import * as Comlink from 'comlink';

Comlink.expose({ call: (m: { args?: unknown }) => ({ t: 'done', value: m.args }) });
