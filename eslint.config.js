// Lint rules, including the import directions of ../shared/STYLE.md (our import-control):
// - nothing imports cli/ (argument parsing and signal handling only), tests and benchmarks included;
// - processors/ import only the topology API, schemas/, errors.ts, each other and croner, and use no ambient
//   time, randomness, timers or environment: everything comes through the ProcessorContext;
// - schemas/ import only errors.ts, avsc, the file system (to load .avsc files) and node:crypto (the SHA-256 a
//   capped dead letter carries of its original: a pure function, issue 15);
// - topology/ knows nothing of scheduling, schemas or the config (config.ts, config/);
// - metrics.ts is the only importer of prom-client, config.ts the only reader of process.env
//   (not config/: its sections, defaults and checks take values);
// - no console outside cli/, tools/, bench/ and test/: components log through the Logger they are given.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { importX } from 'eslint-plugin-import-x'

/** What ui/public/*.js may use besides the language's own globals. */
const browserGlobals = [
  'window',
  'document',
  'location',
  'history',
  'navigator',
  'sessionStorage',
  'localStorage',
  'fetch',
  'WebSocket',
  'URL',
  'URLSearchParams',
  'AbortController',
  'ResizeObserver',
  'requestAnimationFrame',
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
]

const noCli = { group: ['**/cli/**', '**/cli'], message: 'Nothing imports cli/ (argument parsing and signals only).' }
const promClient = {
  name: 'prom-client',
  message: 'Only metrics.ts imports prom-client: take the Metrics port (deps.metrics) instead.',
}
const kernelPaths = [promClient]

/** no-restricted-imports with the rules every folder shares plus its own. */
function restrictedImports({ paths = [], patterns = [] } = {}) {
  return ['error', { paths: [...kernelPaths, ...paths], patterns: [noCli, ...patterns] }]
}

const processEnv = {
  object: 'process',
  property: 'env',
  message: 'Only config.ts reads process.env: take a resolved config section instead.',
}

// processors/: an allow-list, as a regex on the import specifier.
const processorsAllowed = String.raw`^(?!(\./[^/]+|\.\./topology/api\.ts|\.\./schemas/[^/]+|\.\./errors\.ts|croner)$)`
const schemasAllowed = String.raw`^(?!(\./[^/]+|\.\./errors\.ts|avsc|node:crypto|node:fs|node:path|node:url)$)`

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.tools/',
      'coverage/',
      'deploy/',
      'test-artifacts/',
      '**/*.js',
      '**/*.mjs',
      '!ui/public/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      // Closed sets (Avro enums, as const objects) are handled case by case: a symbol added to a schema must not
      // fall into a default branch unnoticed (design review §1.2, C14).
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: true },
      ],
      'no-restricted-imports': restrictedImports(),
      'no-restricted-properties': ['error', processEnv],
      'no-console': 'error',
    },
  },
  {
    files: ['processors/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictedImports({
        patterns: [
          {
            regex: processorsAllowed,
            message:
              'processors/ import only ../topology/api.ts, ../schemas/*, ../errors.ts, ./* and croner: ' +
              'time, state and output come through the ProcessorContext.',
          },
        ],
      }),
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use context.wakeAt / context.schedule.' },
        { name: 'setInterval', message: 'Use context.schedule.' },
        { name: 'setImmediate', message: 'Processors run to completion; forward instead.' },
        { name: 'queueMicrotask', message: 'Processors run to completion; forward instead.' },
        { name: 'performance', message: 'Use context.clock.' },
      ],
      'no-restricted-properties': [
        'error',
        processEnv,
        { object: 'Date', property: 'now', message: 'Use context.clock.' },
        { object: 'Math', property: 'random', message: 'Derive randomness from the record (see jitter.ts).' },
        { object: 'process', property: 'hrtime', message: 'Use context.clock.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'new Date() reads the wall clock: use new Date(context.clock.nowMs()).',
        },
      ],
    },
  },
  {
    files: ['schemas/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictedImports({
        patterns: [
          {
            regex: schemasAllowed,
            message:
              'schemas/ import only ../errors.ts, avsc, ./*, node:crypto and the file system (loading .avsc files).',
          },
        ],
      }),
    },
  },
  {
    files: ['topology/**/*.ts'],
    rules: {
      'no-restricted-imports': restrictedImports({
        patterns: [
          {
            group: [
              '**/processors/**',
              '**/schemas/**',
              '**/scheduler/**',
              '**/host/**',
              '**/connectors/**',
              '**/workers/**',
              '**/api/**',
            ],
            message: 'topology/ knows nothing about tasks, schedules or components.',
          },
          {
            group: ['**/config.ts', '**/config/**', '**/metrics.ts'],
            message: 'topology/ takes options and a typed observer, not the config or the metrics registry.',
          },
        ],
      }),
    },
  },
  {
    files: ['metrics.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noCli] }] },
  },
  {
    files: ['config.ts', 'cli/**/*.ts', 'tools/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['cli/**/*.ts', 'tools/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts'],
    rules: {
      // Tests and benchmarks may wire anything a component does, but never import cli/ (its logic lives elsewhere).
      'no-restricted-imports': ['error', { patterns: [noCli] }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  // The web dashboard: plain browser ES modules served as they are (ui/ui-plugin.ts), outside the TypeScript
  // project, so linted without type information, against the browser's globals.
  {
    files: ['ui/public/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(browserGlobals.map((name) => [name, 'readonly'])),
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-console': 'error' },
  },
)
