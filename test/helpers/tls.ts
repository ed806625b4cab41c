/**
 * Throwaway certificates for TLS tests, made with the machine's openssl: a CA, and leaf certificates it signs for
 * 127.0.0.1 and localhost (subjectAltName IP and DNS), in a temp directory removed when the file ends.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCa {
  dir: string
  caCert: string
  caKey: string
  /** Signs a leaf certificate; returns the PEM file paths. */
  issue(name: string, altNames?: string): { cert: string; key: string }
  remove(): void
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** A CA named `commonName`; `issue` defaults to SANs IP:127.0.0.1 and DNS:localhost. */
export function createTestCa(commonName = 'flextask test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'ft-prod-tls-'))
  const caKey = join(dir, 'ca.key')
  const caCert = join(dir, 'ca.crt')
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${commonName}`].concat([
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-keyout',
      caKey,
      '-out',
      caCert,
    ]),
    dir,
  )
  return {
    dir,
    caCert,
    caKey,
    issue(name, altNames = 'IP:127.0.0.1,DNS:localhost') {
      const key = join(dir, `${name}.key`)
      const csr = join(dir, `${name}.csr`)
      const cert = join(dir, `${name}.crt`)
      const ext = join(dir, `${name}.ext`)
      writeFileSync(ext, `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth,clientAuth\n`)
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr], dir)
      openssl(
        ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '2'].concat([
          '-extfile',
          ext,
          '-out',
          cert,
        ]),
        dir,
      )
      return { cert, key }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
