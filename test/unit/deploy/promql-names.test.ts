import { describe, expect, it } from 'vitest'
import { exportedNames, metricNames } from '../../helpers/promql.ts'

describe('metricNames', () => {
  it('finds the metrics an expression reads, not its functions, labels, grouping or keywords', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (category, le) (rate(flextask_scheduler_fire_lateness_seconds_bucket{job="x", le!="1"}[$__rate_interval])))',
      ),
    ).toEqual(['flextask_scheduler_fire_lateness_seconds_bucket'])
    expect(
      metricNames(
        'flextask:lag:sum > 100 and delta(flextask:lag:sum[10m]) > 0 or absent(up) unless on (job) process_x',
      ),
    ).toEqual(['flextask:lag:sum', 'up', 'process_x'])
    expect(metricNames('sum(rate(a_total[5m])) / sum(rate(b_total[5m] offset 1h))')).toEqual(['a_total', 'b_total'])
  })
})

describe('exportedNames', () => {
  it('declares histogram series and counters from # TYPE lines', () => {
    const names = exportedNames('# TYPE a_seconds histogram\n# TYPE b_total counter\nb_total 1\n')
    expect([...names].sort()).toEqual(['a_seconds', 'a_seconds_bucket', 'a_seconds_count', 'a_seconds_sum', 'b_total'])
  })
})
