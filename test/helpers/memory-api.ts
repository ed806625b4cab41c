/**
 * An in-memory stand-in for the API's two ports (ReadModel and TaskWriter) for route tests with inject(): writes
 * get offsets per partition like Kafka's, and are "projected" (visible to reads, consumed offset advanced) at once
 * or when the test says so. The Postgres read model and the Kafka writer have their own real-infrastructure tests.
 */
import { ScheduleCalculator } from '../../processors/schedule-calculator.ts'
import type { TaskCommand } from '../../schemas/task-command.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { hashApiKey, type ApiKey } from '../../api/api-keys.ts'
import { defaultApiOptions, type ApiOptions } from '../../api/api-options.ts'
import { buildApiServer, type ApiDeps } from '../../api/api-server.ts'
import {
  emptyRunCounts,
  type DeadLetterView,
  type ExecutionView,
  type LogView,
  type OccurrenceView,
  type Page,
  type PageRequest,
  type ReadModel,
  type RunView,
  type TaskFilter,
  type TaskView,
} from '../../api/read-model.ts'
import type { TaskWriter, WritePosition } from '../../api/task-writer.ts'

const partitions = 3

export class MemoryProjection implements ReadModel, TaskWriter {
  readonly topics = topicNames('t')
  readonly tasks = new Map<string, TaskView>()
  readonly runs: RunView[] = []
  readonly logs = new Map<string, LogView[]>()
  readonly occurrences = new Map<string, OccurrenceView[]>()
  readonly deadLetters: DeadLetterView[] = []
  readonly commands: TaskCommand[] = []
  /** Written but not yet projected. */
  readonly pending: { position: WritePosition; apply: () => void }[] = []
  autoProject = true
  failPing = false
  readonly #produced = new Map<string, bigint>()
  readonly #consumed = new Map<string, bigint>()

  // ---- TaskWriter
  putDefinition(definition: TaskDefinition): Promise<WritePosition> {
    return this.#write(this.topics.definitions, definition.taskId, () => this.#project(definition))
  }

  deleteDefinition(taskId: string): Promise<WritePosition> {
    return this.#write(this.topics.definitions, taskId, () => {
      const task = this.tasks.get(taskId)
      if (task !== undefined) this.tasks.set(taskId, { ...task, status: 'DELETED' })
    })
  }

  sendCommand(command: TaskCommand): Promise<WritePosition> {
    this.commands.push(command)
    return this.#write(this.topics.commands, command.taskId, () => undefined)
  }

  /** Applies every pending write, in order. */
  projectAll(): void {
    for (const { position, apply } of this.pending.splice(0)) {
      apply()
      this.#consumed.set(`${position.topic}:${position.partition}`, BigInt(position.offset) + 1n)
    }
  }

  #write(topic: string, taskId: string, apply: () => void): Promise<WritePosition> {
    const partition = partitionForKey(taskId, partitions)
    const key = `${topic}:${partition}`
    const offset = this.#produced.get(key) ?? 0n
    this.#produced.set(key, offset + 1n)
    const position = { topic, partition, offset: String(offset) }
    this.pending.push({ position, apply })
    if (this.autoProject) this.projectAll()
    return Promise.resolve(position)
  }

  #project(definition: TaskDefinition): void {
    const previous = this.tasks.get(definition.taskId)
    const status = definition.paused ? 'PAUSED' : 'ACTIVE'
    const lastSlot = previous?.lastScheduledForMs ?? null
    this.tasks.set(definition.taskId, {
      taskId: definition.taskId,
      name: definition.name,
      category: definition.category,
      type: definition.type,
      tenant: definition.tenant,
      labels: definition.labels,
      status,
      version: definition.version,
      definition,
      createdAtMs: definition.createdAtMs,
      updatedAtMs: definition.updatedAtMs,
      nextFireAtMs: definition.paused
        ? null
        : ScheduleCalculator.occurrenceAfter(
            definition.schedule,
            definition.createdAtMs,
            lastSlot ?? definition.createdAtMs - 1,
          ),
      lastScheduledForMs: lastSlot,
      runs: previous?.runs ?? emptyRunCounts,
      lastRun: previous?.lastRun ?? null,
    })
  }

  async close(): Promise<void> {}

  // ---- ReadModel
  getTask(taskId: string): Promise<TaskView | null> {
    const task = this.tasks.get(taskId)
    return Promise.resolve(task === undefined || task.status === 'DELETED' ? null : task)
  }

  listTasks(filter: TaskFilter, page: PageRequest): Promise<Page<TaskView>> {
    const all = [...this.tasks.values()]
      .filter((t) => t.status !== 'DELETED')
      .filter((t) => filter.category === undefined || t.category === filter.category)
      .filter((t) => filter.type === undefined || t.type === filter.type)
      .filter((t) => filter.status === undefined || t.status === filter.status)
      .filter((t) => filter.tenant === undefined || t.tenant === filter.tenant)
      .filter((t) => filter.q === undefined || t.taskId.toLowerCase().includes(filter.q.toLowerCase()))
      .filter((t) => {
        if (filter.label === undefined) return true
        const [k, v] = filter.label.split('=')
        return v === undefined ? k! in t.labels : t.labels[k!] === v
      })
      .sort((a, b) => (a.taskId < b.taskId ? -1 : 1))
    return Promise.resolve(paged(all, page))
  }

  listRuns(taskId: string, page: PageRequest): Promise<Page<RunView>> {
    const all = this.runs
      .filter((r) => r.taskId === taskId)
      .sort((a, b) => (b.scheduledForMs ?? 0) - (a.scheduledForMs ?? 0) || b.attempt - a.attempt)
    return Promise.resolve(paged(all, page))
  }

  getExecution(executionId: string): Promise<ExecutionView | null> {
    const attempts = this.runs.filter((r) => r.executionId === executionId).sort((a, b) => a.attempt - b.attempt)
    if (attempts.length === 0) return Promise.resolve(null)
    return Promise.resolve({
      executionId,
      taskId: attempts[0]!.taskId,
      attempts,
      logs: this.logs.get(executionId) ?? [],
    })
  }

  listOccurrences(taskId: string, fromMs: number, toMs: number, limit: number): Promise<OccurrenceView[]> {
    const all = (this.occurrences.get(taskId) ?? []).filter(
      (o) => o.scheduledForMs >= fromMs && o.scheduledForMs <= toMs,
    )
    return Promise.resolve(all.slice(0, limit))
  }

  listDeadLetters(filter: { taskId?: string; reasonCode?: string }, page: PageRequest): Promise<Page<DeadLetterView>> {
    const all = this.deadLetters
      .filter((d) => filter.taskId === undefined || d.taskId === filter.taskId)
      .filter((d) => filter.reasonCode === undefined || d.reasonCode === filter.reasonCode)
    return Promise.resolve(paged(all, page))
  }

  summary() {
    const tasksByStatus: Record<string, number> = {}
    for (const t of this.tasks.values()) tasksByStatus[t.status] = (tasksByStatus[t.status] ?? 0) + 1
    return Promise.resolve({ tasksByStatus, runsByStatus: {}, firesLastHour: 0, failuresLastHour: 0, latenessMs: null })
  }

  consumedOffset(topic: string, partition: number): Promise<bigint | null> {
    return Promise.resolve(this.#consumed.get(`${topic}:${partition}`) ?? null)
  }

  ping(): Promise<void> {
    return this.failPing ? Promise.reject(new Error('connection refused')) : Promise.resolve()
  }
}

function paged<T>(all: T[], page: PageRequest): Page<T> {
  return {
    items: all.slice(page.page * page.size, (page.page + 1) * page.size),
    page: page.page,
    size: page.size,
    total: all.length,
  }
}

export const testKeys = { read: 'key-read-1', write: 'key-write-1', admin: 'key-admin-1' } as const

export const testApiKeys: ApiKey[] = Object.entries(testKeys).map(([scope, key]) => ({
  id: `${scope}-key`,
  scope: scope as ApiKey['scope'],
  sha256: hashApiKey(key),
}))

export const auth = (scope: keyof typeof testKeys) => ({ authorization: `Bearer ${testKeys[scope]}` })

/** A server over a fresh MemoryProjection, with a fixed clock. */
export async function memoryApi(options: Partial<ApiOptions> = {}, deps: Partial<ApiDeps> = {}) {
  const store = new MemoryProjection()
  const app = await buildApiServer({
    options: { ...defaultApiOptions, apiKeys: testApiKeys, readYourWritesTimeoutMs: 300, ...options },
    readModel: store,
    writer: store,
    topics: store.topics,
    logger: (await import('../../logger.ts')).silentLogger,
    nowMs: () => 1_800_000_000_000,
    ...deps,
  })
  return { app, store }
}
