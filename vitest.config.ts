import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/topology/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          // test/faults: the fault-injection and fuzz suites at CI size (larger: npm run faults, test/faults/run.ts).
          include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          // One broker on two cores: broker-bound suites run one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
