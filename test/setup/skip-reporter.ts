/**
 * Ends the test summary with what was skipped for a missing system package, why, and the
 * command that installs it (vite.config.ts left those files out; the list is
 * scripts/system-packages.mjs). Prints nothing when every package is present.
 */
import type { Reporter } from 'vitest/reporters';
import { installCommand, skippedTests, type SystemPackage } from '../../scripts/system-packages.mjs';

export function skipReporter(missing: SystemPackage[]): Reporter {
  return {
    onTestRunEnd() {
      if (missing.length === 0) return;
      const lines = ['', ' Skipped: system packages missing (scripts/system-packages.mjs)'];
      for (const { pattern, packages } of skippedTests(missing)) lines.push(`   ${pattern}  needs ${packages.join(', ')}`);
      lines.push(`   install: ${installCommand(missing.map((p) => p.name))} (or run \`npm test\` as root on Debian/Ubuntu)`, '');
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  };
}
