// Another system reacting to flextask results: kafkajs + @kafkajs/confluent-schema-registry, no flextask code.
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import { Kafka, logLevel } from 'kafkajs'

export interface FlextaskResult {
  executionId: string
  taskId: string
  attempt: number
  status: 'STARTED' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'SKIPPED' | 'DEAD' | 'UNKNOWN'
  workerId: string | null
  output: string | null
  error: { code: string; message: string; retriable: boolean } | null
}

export async function consumeResults(options: {
  brokers: string[]
  registryUrl: string
  topic: string // e.g. 'flextask.task-results'
  groupId: string
  onSucceeded: (result: FlextaskResult) => Promise<void> | void
  onDead: (result: FlextaskResult) => Promise<void> | void
}): Promise<() => Promise<void>> {
  const kafka = new Kafka({ clientId: options.groupId, brokers: options.brokers, logLevel: logLevel.WARN })
  const registry = new SchemaRegistry({ host: options.registryUrl })
  // readUncommitted: false = isolation.level read_committed (the scheduler writes DEAD inside transactions).
  const consumer = kafka.consumer({ groupId: options.groupId, readUncommitted: false })
  await consumer.connect()
  await consumer.subscribe({ topic: options.topic, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value === null) return
      const result = (await registry.decode(message.value)) as FlextaskResult
      // Workers deliver at least once: act once per (executionId, attempt), e.g. with a unique key in your store.
      if (result.status === 'SUCCEEDED') await options.onSucceeded(result)
      else if (result.status === 'DEAD') await options.onDead(result)
    },
  })
  return () => consumer.disconnect()
}
