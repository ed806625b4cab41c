/**
 * Every Kafka client flextask opens in production code gets the security options of the `kafka` config section:
 * it is built by the factory (kafka-clients.ts) or spreads the factory's `connection` (the stream runtime and the
 * group members that need consumer options the factory's signature drops). A client built from bare
 * `bootstrapBrokers` would connect in plaintext to a SASL_SSL cluster. Tests, benchmarks, tools/ (the local
 * broker) and examples/ (another system's own kafkajs client, shown in the README) are exempt.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FetchIsolationLevels } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { createKafkaClientFactory } from '../../kafka-clients.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const exempt = new Set(['node_modules', '.tools', 'test', 'bench', 'tools', 'examples', '.git', 'coverage', '.state'])

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (exempt.has(entry.name)) return []
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

/** The text of the argument list of the `new X(` starting at `start`, up to its closing parenthesis. */
function argumentsAt(text: string, start: number): string {
  let depth = 0
  for (let i = text.indexOf('(', start); i < text.length; i++) {
    if (text[i] === '(') depth++
    if (text[i] === ')' && --depth === 0) return text.slice(start, i + 1)
  }
  return text.slice(start)
}

describe('Kafka client wiring', () => {
  it('builds every production Kafka client with the connection of the one factory', () => {
    const unsecured: string[] = []
    let clients = 0
    for (const file of sources(root)) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/new (Producer|Consumer|Admin|Kafka)\s*(<[^>]*>)?\(/g)) {
        clients++
        const args = argumentsAt(text, match.index)
        if (!/\bconnection\b/.test(args)) {
          const line = text.slice(0, match.index).split('\n').length
          unsecured.push(`${relative(root, file)}:${line} ${match[0]}`)
        }
      }
    }
    expect(clients).toBeGreaterThanOrEqual(3)
    expect(unsecured, 'clients built without the kafka-clients.ts connection').toEqual([])
  })

  it('takes group options in the factory consumer, so group members need not build their own', async () => {
    // Type-checked by tsc: a plain Omit over ConsumerOptions (a union) dropped these keys.
    const consumer = createKafkaClientFactory({ bootstrapBrokers: ['127.0.0.1:1'] }).consumer({
      clientId: 'wiring',
      groupId: 'wiring-group',
      groupInstanceId: 'wiring-0',
      sessionTimeout: 6000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 10_000,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    })
    try {
      expect(consumer.groupInstanceId).toBe('wiring-0')
    } finally {
      await consumer.close()
    }
  })
})
