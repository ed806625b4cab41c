/**
 * The one Kafka client factory: maps the `kafka` config section (brokers, SASL, TLS) into @platformatic/kafka
 * client options. Every client flextask creates (the stream runtime's, the topic admin, workers, the sink, the
 * demo, tests) is built from `connection` here, so a secured cluster needs configuration, not code.
 *
 * TLS: `tls` holds node:tls connect options (ca, cert, key); `tlsServerName: true` sends the broker's host as
 * SNI (node sends none by default, which SNI-routed clusters need), unless the brokers are IP addresses (RFC 6066
 * forbids IP SNI; node warns, DEP0123). Host name verification is node's default (`checkServerIdentity`, against
 * the address in KAFKA_BROKERS); `verifyHostname: false` accepts any name, the certificate chain is still verified.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import {
  Admin,
  type AdminOptions,
  Consumer,
  type ConsumerOptions,
  Producer,
  type ProducerOptions,
  type SASLOptions,
} from '@platformatic/kafka'
import type { KafkaConfig } from './config.ts'

/** What every client needs to reach the cluster: brokers plus the security options, or none when plain. */
export interface KafkaConnection {
  bootstrapBrokers: string[]
  sasl?: SASLOptions
  tls?: TlsOptions
  tlsServerName?: boolean
}

export interface KafkaClientFactory {
  readonly connection: KafkaConnection
  admin(clientId: string): Admin
  producer<K = Buffer, V = Buffer, HK = Buffer, HV = Buffer>(
    options: Omit<ProducerOptions<K, V, HK, HV>, 'bootstrapBrokers'>,
  ): Producer<K, V, HK, HV>
  consumer<K = Buffer, V = Buffer, HK = Buffer, HV = Buffer>(
    options: Omit<ConsumerOptions<K, V, HK, HV>, 'bootstrapBrokers'>,
  ): Consumer<K, V, HK, HV>
}

/** The connection options of the `kafka` section (reads the TLS files once). */
export function kafkaConnection(kafka: KafkaConfig, readFile = (path: string) => readFileSync(path)): KafkaConnection {
  const connection: KafkaConnection = { bootstrapBrokers: [...kafka.brokers] }
  const { sasl, tls } = kafka
  if (sasl.mechanism !== null) {
    connection.sasl = { mechanism: sasl.mechanism, username: sasl.username ?? '', password: sasl.password ?? '' }
  }
  if (tls.enabled) {
    connection.tls = {
      rejectUnauthorized: true,
      ...(tls.caFile === null ? {} : { ca: readFile(tls.caFile) }),
      ...(tls.certFile === null ? {} : { cert: readFile(tls.certFile) }),
      ...(tls.keyFile === null ? {} : { key: readFile(tls.keyFile) }),
      ...(tls.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
    }
    if (kafka.brokers.every((broker) => isIP(hostOf(broker)) === 0)) connection.tlsServerName = true
  }
  return connection
}

/** `host:port` → host (IPv6 in brackets too). */
function hostOf(broker: string): string {
  const bracketed = /^\[(.*)\](?::\d+)?$/.exec(broker)
  return bracketed?.[1] ?? broker.replace(/:\d+$/, '')
}

export function createKafkaClientFactory(kafka: KafkaConfig | KafkaConnection): KafkaClientFactory {
  const connection = 'bootstrapBrokers' in kafka ? kafka : kafkaConnection(kafka)
  return {
    connection,
    admin: (clientId) => new Admin({ ...connection, clientId } satisfies AdminOptions),
    producer: (options) => new Producer({ ...options, ...connection }),
    consumer: (options) => new Consumer({ ...options, ...connection }),
  }
}
