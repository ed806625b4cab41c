/**
 * The SSRF guard of every built-in that opens a connection to an address taken from a task's payload (http,
 * kubernetes, elasticsearch): an undici connector that checks the address it is about to connect to.
 *
 * Rules:
 * - The check runs at connect time, on the address actually dialled: the hostname is resolved here (every
 *   address it resolves to must pass; one refused address refuses the request) and the socket connects to the
 *   checked address, so a DNS answer cannot change between check and use (no rebinding window).
 * - IP literals are checked too (`http://127.0.0.1`, `http://[::ffff:7f00:1]`): Node's net.connect never calls a
 *   lookup hook for them (nodejs/undici#2019), which is why this is a connector and not a `lookup` option.
 * - IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
 * - Only ipaddr.js's `unicast` range passes by default. Everything else — loopback, private (10/8, 172.16/12,
 *   192.168/16), linkLocal (169.254/16, the cloud metadata address 169.254.169.254 included), uniqueLocal,
 *   carrierGradeNat, unspecified, broadcast, multicast, reserved — is refused unless `allow` lists its range
 *   name (`loopback`, `private`, …) or a CIDR that contains it (`10.20.0.0/16`).
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { buildConnector } from 'undici'
import { FlextaskError } from '../../errors.ts'

export const SsrfErrorCodes = { refused: 'FLEXTASK_HTTP_ADDRESS_REFUSED' } as const

export interface SsrfPolicy {
  /** Range names of ipaddr.js (`loopback`, `private`, `linkLocal`, …) or CIDRs allowed besides unicast. @default [] */
  allow: string[]
}

/** Host name → every address it resolves to. @default node:dns lookup with `all: true` */
export type Resolver = (host: string) => Promise<string[]>

export const systemResolver: Resolver = async (host) => (await lookup(host, { all: true })).map((a) => a.address)

type Parsed = ipaddr.IPv4 | ipaddr.IPv6

export class AddressChecker {
  readonly #ranges: Set<string>
  readonly #cidrs: [Parsed, number][]

  constructor(policy: SsrfPolicy) {
    this.#ranges = new Set(policy.allow.filter((a) => !a.includes('/')))
    this.#cidrs = policy.allow.filter((a) => a.includes('/')).map((c) => ipaddr.parseCIDR(c))
  }

  /** Why `address` is refused, or undefined when it may be dialled. */
  refusal(address: string): string | undefined {
    let ip: Parsed = ipaddr.parse(address)
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address()
    const range = ip.range()
    if (range === 'unicast' || this.#ranges.has(range)) return undefined
    for (const [net, bits] of this.#cidrs) if (net.kind() === ip.kind() && ip.match(net, bits)) return undefined
    return `${address} is in the ${range} range`
  }
}

/**
 * A connector for undici's Agent/Client that refuses connections to addresses the policy does not allow.
 * TLS options (e.g. `ca`) go to the underlying connector.
 */
export function guardedConnector(
  policy: SsrfPolicy,
  tls: buildConnector.BuildOptions = {},
  resolve: Resolver = systemResolver,
): buildConnector.connector {
  const checker = new AddressChecker(policy)
  const connect = buildConnector(tls)
  return (options, callback) => {
    const host = options.hostname.startsWith('[') ? options.hostname.slice(1, -1) : options.hostname
    resolveChecked(checker, host, resolve).then(
      (address) => {
        const servername = options.servername ?? (isIP(host) === 0 ? host : undefined)
        connect({ ...options, hostname: address, ...(servername === undefined ? {} : { servername }) }, callback)
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
    )
  }
}

/** Resolves `host` (an IP literal is its own address) and checks every address; returns the first. */
export async function resolveChecked(checker: AddressChecker, host: string, resolve: Resolver): Promise<string> {
  const addresses = isIP(host) !== 0 ? [host] : await resolve(host)
  for (const address of addresses) {
    const why = checker.refusal(address)
    if (why !== undefined) {
      throw new FlextaskError(
        SsrfErrorCodes.refused,
        `refused to connect to ${host}${host === address ? '' : ` (${address})`}: ${why}; allow it in workers.ssrf.allow`,
        { retriable: false, context: { host, address } },
      )
    }
  }
  const first = addresses[0]
  if (first === undefined) throw new FlextaskError('FLEXTASK_HTTP_DNS_FAILED', `${host} resolved to no address`)
  return first
}
