/**
 * Issue 15 (the 20-minute fault run, seed 4119592708): on a broker restart every worker exited with code 1. The
 * consumer's rejoin failed through the client's retries ("joinGroup failed 4 times … findGroupCoordinator failed")
 * and @platformatic/kafka emitted it as 'error' on the Consumer, which had no listener: an unhandled 'error' event
 * throws, and the process ended. A worker's category member (and the Postgres sink's consumer) now listens and waits
 * it out by re-opening its fetch stream, which joins again. Here the client's emission is reproduced on a member
 * joined on the real broker: it must reach the member's listener, not throw.
 */
import { Admin } from '@platformatic/kafka'
import { expect, it } from 'vitest'
import { type CategoryMember, joinCategory, leaveCategory } from '../../workers/category-member.ts'
import { testKafka } from '../helpers/env.ts'
import { kafkaBrokers, uniqueName } from '../helpers/kafka.ts'
import { onCleanup } from '../helpers/cleanup.ts'

it("a failed rejoin emitted as the consumer's 'error' reaches the member's listener instead of ending the process", async () => {
  const topic = uniqueName('member-errors')
  const admin = new Admin({ clientId: uniqueName('member-errors-admin'), bootstrapBrokers: kafkaBrokers })
  onCleanup(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.close()
  })
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 })
  const errors: unknown[] = []
  const member: CategoryMember = await joinCategory(
    'internal',
    {
      kafka: testKafka,
      workerId: uniqueName('member-errors'),
      topicPrefix: uniqueName('member-errors'),
      topic,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
    },
    {
      onJoin: () => undefined,
      onRecord: () => undefined,
      onError: (error) => void errors.push(error),
    },
  )
  onCleanup(() => leaveCategory(member))
  const rejoinFailed = new Error('joinGroup failed 4 times.')
  expect(() => member.consumer.emit('error', rejoinFailed)).not.toThrow()
  expect(errors).toEqual([rejoinFailed])
}, 60_000)
