/**
 * `npm start`: serves the playground (web/) on localhost with Vite and prints its URL.
 * Options: --port N, --host NAME, --no-isolation (serve without COOP/COEP, to try the
 * postMessage path), --built (serve dist/site from `npm run build` instead of the sources).
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = `usage: npm start -- [--port N] [--host NAME] [--no-isolation] [--built]`;

function fail(message: string): never {
  console.error(`scriptbox start: ${message}\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'no-isolation': { type: 'boolean', default: false },
      built: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = args.port === undefined ? 5173 : Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${args.port} is not a port number; pass an integer from 0 to 65535`);
// Read by web/vite.config.ts, which the plugin's headers follow.
if (args['no-isolation']) process.env.SCRIPTBOX_ISOLATION = 'off';

const { createServer, preview } = await import('vite');
const configFile = fileURLToPath(new URL('../web/vite.config.ts', import.meta.url));
const host = args.host ?? 'localhost';
const server = args.built
  ? await preview({ configFile, preview: { port, host } })
  : await (await createServer({ configFile, server: { port, host } })).listen();
const url = server.resolvedUrls?.local[0] ?? server.resolvedUrls?.network[0] ?? `http://${host}:${port}/`;
console.log(`\n  ScriptBox playground: ${url}`);
console.log(`  benchmarks:           ${url}bench.html`);
console.log(`  embedding example:    ${url}embed.html`);
console.log(
  `  ${args['no-isolation'] ? 'served WITHOUT COOP/COEP: the engine uses postMessage (see docs/playground.md)' : 'cross-origin isolated (COOP/COEP): SharedArrayBuffer channel'}`,
);
console.log('  Ctrl+C stops the server.\n');
