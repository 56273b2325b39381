import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { scriptbox } from './src/node/vite-plugin.js';
import { CHROMIUM_ARGS, missingPackages, skippedTests, SYSTEM_PACKAGES } from './scripts/system-packages.mjs';
import { skipReporter } from './test/setup/skip-reporter.js';

// System packages still missing after `pretest` (scripts/ensure-installed.mjs): their test
// files are left out, and the skip reporter and test/setup/system-packages.test.ts say so.
const missing = missingPackages();
const skipped = skippedTests(missing).map((s) => s.pattern);
const browserMissing = missing.some((p) => p.browserProject);
const chromium = SYSTEM_PACKAGES.find((p) => p.name === 'chromium')!.detect;

export default defineConfig({
  plugins: [scriptbox()],
  test: {
    reporters: ['default', skipReporter(missing)],
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/browser/**', 'test/bench/bench.test.ts', ...skipped],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
      {
        // The bench's run and its CI ratio guards, alone after every other project: with other
        // test files beside it on 2 cores, its worker round trips measured 5x their quiet value.
        extends: true,
        test: {
          name: 'bench',
          include: ['test/bench/bench.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          sequence: { groupOrder: 1 },
        },
      },
      ...(browserMissing
        ? []
        : [
            {
              extends: true,
              test: {
                name: 'browser',
                include: ['test/browser/**/*.test.ts'],
                testTimeout: 60_000,
                hookTimeout: 120_000,
                browser: {
                  enabled: true,
                  headless: true,
                  provider: playwright({
                    launchOptions: { executablePath: process.env[chromium.binaryEnv!] || chromium.binary!, args: CHROMIUM_ARGS },
                  }),
                  instances: [{ browser: 'chromium' }],
                },
              },
            } satisfies TestProjectInlineConfiguration,
          ]),
    ],
  },
});
