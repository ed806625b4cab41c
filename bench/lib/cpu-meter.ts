/**
 * CPU used during a bench phase: this process (all its threads) and the local broker JVM, read from /proc (Linux;
 * clock ticks assumed 100 Hz). The broker's pid comes from the pid file tools/kafka writes.
 */
import { readFileSync } from 'node:fs'
import { kafkaBrokers } from '../../test/helpers/env.ts'

/** A phase's CPU: this process (scheduler + consumer worker + bench) and the broker JVM, in ms. */
export interface Cpu {
  processMs: number
  brokerMs: number | undefined
}

const brokerPid = ((): number | undefined => {
  try {
    const port = kafkaBrokers[0]?.split(':')[1] ?? '9092'
    const file = new URL(`../../.tools/kafka/kafka-${port}.pid`, import.meta.url)
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
})()

/** utime + stime of the local broker in ms (Linux /proc; clock ticks assumed 100 Hz), or undefined. */
function brokerCpuMs(): number | undefined {
  if (brokerPid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${brokerPid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

export function cpuMeter(): () => Cpu {
  const before = process.cpuUsage()
  const brokerBefore = brokerCpuMs()
  return () => {
    const used = process.cpuUsage(before)
    const brokerAfter = brokerCpuMs()
    return {
      processMs: (used.user + used.system) / 1000,
      brokerMs: brokerBefore === undefined || brokerAfter === undefined ? undefined : brokerAfter - brokerBefore,
    }
  }
}
