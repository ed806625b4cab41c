/**
 * Bit flips in Avro bodies, all eight bits of every byte (issue 15): the fuzz suite used to spare the varint
 * continuation bit (bit 7), because flipping it could turn a block count into ~2^60 and freeze avsc
 * (schemas/avro-bounds.ts now refuses such a body). Every mutant of every scheduler input must either be refused
 * at once as undecodable (a coded, non-retriable error: a dead letter) or decode to a value its reader schema
 * accepts — never hang, never a retriable error, never an uncoded throw.
 */
import { describe, expect, it } from 'vitest'
import { ErrorCodes, FlextaskError } from '../../../errors.ts'
import { AvroSerde } from '../../../schemas/avro-serde.ts'
import { taskCommandSchema } from '../../../schemas/task-command.ts'
import { taskDefinitionSchema } from '../../../schemas/task-definition.ts'
import { taskExecutionSchema } from '../../../schemas/task-execution.ts'
import { taskResultSchema } from '../../../schemas/task-result.ts'
import { seededRandom } from '../../faults/seeded-random.ts'
import { MemoryRegistry } from '../../helpers/memory-registry.ts'
import { schemaCases } from './samples.ts'

const readers = {
  TaskDefinition: taskDefinitionSchema,
  TaskCommand: taskCommandSchema,
  TaskResult: taskResultSchema,
  TaskExecution: taskExecutionSchema,
}
const cases = schemaCases.filter((c) => c.name in readers)

interface Outcome {
  decoded: number
  refused: number
  slowestMs: number
  wrong: string[]
}

async function judge(serde: AvroSerde<unknown>, mutant: Buffer, outcome: Outcome, what: string): Promise<void> {
  const started = performance.now()
  try {
    const value = await serde.deserialize(mutant)
    const invalid = serde.validate(value)
    if (invalid.length > 0) outcome.wrong.push(`${what}: decoded to an invalid value: ${invalid[0]?.message}`)
    outcome.decoded++
  } catch (error) {
    const ok =
      error instanceof FlextaskError &&
      !error.retriable &&
      (error.code === ErrorCodes.serdeDecode || error.code === ErrorCodes.serdeUnknownSchema)
    if (!ok) outcome.wrong.push(`${what}: ${String(error)}`)
    outcome.refused++
  }
  outcome.slowestMs = Math.max(outcome.slowestMs, performance.now() - started)
}

async function serdeFor(name: keyof typeof readers): Promise<AvroSerde<unknown>> {
  const serde = new AvroSerde<unknown>(`flips-${name}-value`, readers[name], new MemoryRegistry())
  await serde.init()
  return serde
}

describe('bit flips in Avro bodies, the continuation bit included', () => {
  it('every single-bit flip of every body byte is refused as undecodable or decodes to a valid value', async () => {
    for (const c of cases) {
      const serde = await serdeFor(c.name as keyof typeof readers)
      for (const sample of [c.full, c.sparse]) {
        const bytes = serde.serialize(sample)
        const outcome: Outcome = { decoded: 0, refused: 0, slowestMs: 0, wrong: [] }
        for (let at = 5; at < bytes.length; at++) {
          for (let bit = 0; bit < 8; bit++) {
            const mutant = Buffer.from(bytes)
            mutant[at] = (mutant[at] ?? 0) ^ (1 << bit)
            await judge(serde, mutant, outcome, `${c.name} byte ${at} bit ${bit}`)
          }
        }
        console.log(
          `${c.name}: ${(bytes.length - 5) * 8} single flips, ${outcome.refused} refused, ${outcome.decoded} decoded, slowest ${outcome.slowestMs.toFixed(1)} ms`,
        )
        expect(outcome.wrong.slice(0, 5)).toEqual([])
        expect(outcome.slowestMs).toBeLessThan(1_000)
      }
    }
  })

  it('random flips of one to three bits anywhere, the schema id included, settle at once (seeded)', async () => {
    const rng = seededRandom(15)
    for (const c of cases) {
      const serde = await serdeFor(c.name as keyof typeof readers)
      const bytes = serde.serialize(c.full)
      const outcome: Outcome = { decoded: 0, refused: 0, slowestMs: 0, wrong: [] }
      for (let n = 0; n < 3_000; n++) {
        const mutant = Buffer.from(bytes)
        for (let flips = rng.int(1, 3); flips > 0; flips--) {
          const at = rng.int(rng.next() < 0.1 ? 0 : 5, mutant.length - 1)
          mutant[at] = (mutant[at] ?? 0) ^ (1 << rng.int(0, 7))
        }
        await judge(serde, mutant, outcome, `${c.name} mutant ${n} (${mutant.toString('hex')})`)
      }
      console.log(
        `${c.name}: 3000 random mutants, ${outcome.refused} refused, ${outcome.decoded} decoded, slowest ${outcome.slowestMs.toFixed(1)} ms`,
      )
      expect(outcome.wrong.slice(0, 5)).toEqual([])
      expect(outcome.slowestMs).toBeLessThan(1_000)
    }
  })
})
