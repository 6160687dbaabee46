import { describe, expect, it } from 'vitest';
import { HaproxyMetrics, parsePrometheusText } from './haproxy.js';

const SCRAPE = `# HELP haproxy_server_status Current status of the service, per state label value.
# TYPE haproxy_server_status gauge
haproxy_server_status{proxy="web",server="web1",state="DOWN"} 0
haproxy_server_status{proxy="web",server="web1",state="UP"} 1
haproxy_server_status{proxy="web",server="web2",state="DOWN"} 1
haproxy_server_status{proxy="web",server="web2",state="UP"} 0
haproxy_backend_http_requests_total{proxy="api"} 12
haproxy_backend_http_requests_total{proxy="web"} 40
haproxy_server_http_responses_total{proxy="web",server="web1",code="2xx"} 19
haproxy_server_http_responses_total{proxy="web",server="web1",code="5xx"} 1
haproxy_process_build_info{version="2.6.12-1+deb12u4",note="a \\"quoted\\" value"} 1
haproxy_process_max_connections +Inf 1700000000000
`;

describe('Prometheus text parsing', () => {
  it('parses samples with labels, escapes, infinities and timestamps', () => {
    const samples = parsePrometheusText(SCRAPE);
    expect(samples).toHaveLength(10);
    expect(samples[8]).toEqual({ name: 'haproxy_process_build_info', labels: { version: '2.6.12-1+deb12u4', note: 'a "quoted" value' }, value: 1 });
    expect(samples[9]).toEqual({ name: 'haproxy_process_max_connections', labels: {}, value: Infinity });
  });

  it('answers server states, backend requests and per-server responses', () => {
    const m = new HaproxyMetrics(parsePrometheusText(SCRAPE));
    expect(m.serverState('web', 'web1')).toBe('UP');
    expect(m.serverState('web', 'web2')).toBe('DOWN');
    expect(m.serverState('web', 'web3')).toBeUndefined();
    expect(m.serversInState('web', 'UP')).toEqual(['web1']);
    expect(m.serversInState('web', 'DOWN')).toEqual(['web2']);
    expect(m.serversInState('api', 'UP')).toEqual([]);
    expect(m.backendRequests('api')).toBe(12);
    expect(m.serverResponses('web', 'web1')).toBe(20);
    expect(m.sum('haproxy_server_http_responses_total', { code: '5xx' })).toBe(1);
  });

  it('rejects a malformed line, naming it', () => {
    expect(() => parsePrometheusText('haproxy_x{proxy="a"\n')).toThrow(/malformed metrics line: haproxy_x\{proxy="a"/);
  });
});
