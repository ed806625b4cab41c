// Lint rules, including the import directions of ../shared/STYLE.md (our import-control):
// processors/ see only the topology API, schemas and errors; topology/ knows nothing of scheduling;
// nothing imports the composition root in cli/.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { importX } from 'eslint-plugin-import-x'

const ioModules = [
  '@platformatic/kafka',
  'pg',
  'classic-level',
  'node:fs',
  'node:fs/promises',
  'fs',
  'node:net',
  'node:http',
]
const noCompositionRoot = { group: ['**/cli/**'], message: 'Nothing imports the composition root (cli/).' }

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', 'coverage/', 'deploy/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
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
      'no-restricted-imports': ['error', { patterns: [noCompositionRoot] }],
    },
  },
  {
    files: ['processors/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.map((name) => ({ name, message: 'processors/ do no I/O: use the ProcessorContext.' })),
          patterns: [
            noCompositionRoot,
            {
              group: ['**/topology/*', '!**/topology/api.ts'],
              message: 'processors/ import only topology/api.ts from the runtime.',
            },
            { group: ['**/connectors/**', '**/workers/**', '**/api/**'], message: 'processors/ stay pure.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'Use context.schedule / wakeAt.' }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Use context.clock.' }],
    },
  },
  {
    // The wiring of the scheduler topology is the one processors/ file that builds on the runtime itself.
    files: ['processors/scheduler-topology.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.map((name) => ({ name, message: 'processors/ do no I/O: use the ProcessorContext.' })),
          patterns: [
            noCompositionRoot,
            {
              group: [
                '**/topology/*',
                '!**/topology/api.ts',
                '!**/topology/topology-builder.ts',
                '!**/topology/partitioner.ts',
                '!**/topology/serdes.ts',
              ],
              message: 'the scheduler wiring imports only the builder, partitioner and serdes of the runtime.',
            },
            { group: ['**/connectors/**', '**/workers/**', '**/api/**'], message: 'processors/ stay pure.' },
          ],
        },
      ],
    },
  },
  {
    files: ['topology/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noCompositionRoot,
            {
              group: ['**/processors/**', '**/schemas/**', '**/connectors/**', '**/workers/**', '**/api/**'],
              message: 'topology/ knows nothing about tasks or schedules.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts'],
    rules: {
      // Tests and benchmarks may wire the app the way the CLI does.
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
)
