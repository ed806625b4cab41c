/**
 * The fuzz oracle: what the contract (ARCHITECTURE.md guarantee 5) says the scheduler must do with one input
 * record about a task that does not exist — the dead-letter reason, or null when the record is acceptable input.
 * It decodes with the same registry-backed serdes and checks definitions with the same `findDefinitionProblem`
 * the API uses, so it judges random and mutated bytes the way a careful producer would; it does not run the
 * topology.
 *
 * - definitions: a missing key, a key on another partition, undecodable bytes or an invalid definition are bad;
 *   a tombstone of an unknown task is an idempotent delete (acceptable).
 * - commands: every command for a task that does not exist is bad (INVALID_COMMAND), as is a tombstone.
 * - results: a result that decodes is acceptable (a late result for an unknown execution is ignored by design);
 *   a missing key, a key on another partition, a tombstone or undecodable bytes are bad.
 */
import { findDefinitionProblem, type DefinitionLimits } from '../../../processors/definition-validator.ts'
import { SchedulerReasons, reasonCodeFor } from '../../../processors/scheduler-errors.ts'
import type { SerdeRegistry } from '../../../schemas/serde-registry.ts'
import { partitionForKey } from '../../../topology/partitioner.ts'
import type { InputKind } from './bad-records.ts'

export interface FuzzOracle {
  reasonFor(input: InputKind, partition: number, key: Buffer | null, value: Buffer | null): Promise<string | null>
}

const missingKeyReason: Record<InputKind, string> = {
  definitions: SchedulerReasons.invalidDefinition,
  commands: SchedulerReasons.invalidCommand,
  results: SchedulerReasons.invalidResult,
}

export function createOracle(
  serdes: Pick<SerdeRegistry, 'definition' | 'command' | 'result'>,
  partitions: number,
  limits: DefinitionLimits,
): FuzzOracle {
  async function decodes(input: InputKind, value: Buffer): Promise<unknown> {
    const serde = input === 'definitions' ? serdes.definition : input === 'commands' ? serdes.command : serdes.result
    return serde.deserialize(value)
  }
  // Ids the registry answered "unknown" for: asked once each, not once per record (the pool is far above any
  // id the registry assigns, so the answer cannot change during a run).
  const unknownIds = new Set<string>()
  return {
    async reasonFor(input, partition, key, value) {
      const taskId = key?.toString('utf8') ?? ''
      if (taskId === '') return missingKeyReason[input]
      if (partitionForKey(taskId, partitions) !== partition) return SchedulerReasons.wrongPartition
      if (value === null) return input === 'definitions' ? null : missingKeyReason[input]
      const schemaId = value.length >= 5 && value[0] === 0 ? `${input}/${value.readInt32BE(1)}` : undefined
      if (schemaId !== undefined && unknownIds.has(schemaId)) return SchedulerReasons.unknownSchema
      let decoded: unknown
      try {
        decoded = await decodes(input, value)
      } catch (error) {
        const reason = reasonCodeFor(error)
        if (reason === SchedulerReasons.unknownSchema && schemaId !== undefined) unknownIds.add(schemaId)
        return reason
      }
      if (input === 'commands') return SchedulerReasons.invalidCommand
      if (input === 'results') return null
      const problem = findDefinitionProblem(taskId, decoded as Parameters<typeof findDefinitionProblem>[1], limits)
      return problem === null ? null : reasonCodeFor(problem)
    },
  }
}
