// ESLint for the TypeScript tree (typescript-eslint with type information). `npm run lint`
// runs it, and `npm test` runs that. Formatting is Prettier's job, not ESLint's.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', '**/*.generated.ts', 'web/public/**', 'scripts/*.mjs', 'eslint.config.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      // A promise nobody awaits hides its failure; say `void` (with a why) where that is meant.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // An empty catch swallows a failure silently: a comment must say why it is safe.
      'no-empty': ['error', { allowEmptyCatch: false }],
      'import-x/no-cycle': 'error',
      'no-restricted-imports': 'off',
    },
  },
  {
    // The sandboxed backends and the native backends share their language layer (src/lang/)
    // and never import each other.
    files: ['wasm/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/native-bridge/**'], message: 'wasm/ must not import native-bridge/: share through src/lang/.' }] },
      ],
    },
  },
  {
    files: ['native-bridge/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/wasm/**'], message: 'native-bridge/ must not import wasm/: share through src/lang/.' }] },
      ],
    },
  },
);
