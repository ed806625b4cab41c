/**
 * `npm run faults -- [--minutes 20] [--seed N] [--scale large|ci]`: the fault-injection suite at a size chosen here
 * rather than CI's. Sets FAULTS_SCALE (default large: one fault at a time, in rounds, larger load), FAULTS_MINUTES
 * (the load window; default 20), FAULTS_SEED when given (a replay), and FAULTS_FUZZ_RECORDS=10000 for the fuzz
 * tests, then runs vitest on test/faults/ and exits with its status.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    seed: { type: 'string' },
    scale: { type: 'string', default: 'large' },
  },
})
const minutes = Number(values.minutes)
if (!Number.isFinite(minutes) || minutes < 1) {
  console.error(`faults: --minutes must be a number ≥ 1, got ${values.minutes}`)
  process.exit(2)
}
if (values.scale !== 'large' && values.scale !== 'ci') {
  console.error(`faults: --scale must be large or ci, got ${values.scale}`)
  process.exit(2)
}
const env = {
  ...process.env,
  FAULTS_SCALE: values.scale,
  FAULTS_MINUTES: String(minutes),
  FAULTS_FUZZ_RECORDS: process.env.FAULTS_FUZZ_RECORDS ?? '10000',
  ...(values.seed === undefined ? {} : { FAULTS_SEED: values.seed }),
}
console.log(
  `faults: scale ${env.FAULTS_SCALE}, ${minutes} min, fuzz records ${env.FAULTS_FUZZ_RECORDS}` +
    `${values.seed === undefined ? '' : `, seed ${values.seed}`}`,
)
const root = fileURLToPath(new URL('../..', import.meta.url))
const vitest = spawnSync('npx', ['vitest', 'run', '--project', 'integration', 'test/faults/'], {
  cwd: root,
  env,
  stdio: 'inherit',
})
process.exit(vitest.status ?? 1)
