// TLS on the binds (SPEC §14): `certfile`, `keyfile`, `caCerts`, `certReqs`, `http2`. Every worker
// reads the files when it boots, so a reload (HUP) serves the certificates on disk then: a renewed
// certificate needs no restart, and one that does not load fails the reload (the old workers keep
// serving). The config check reads them too, so a bad file is a clear error at start.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ArbiterError, configError } from './errors.js';

/** `certReqs`: whether workers ask for a client certificate, and whether one is required (gunicorn's `cert_reqs`: 0, 1, 2). */
export const CERT_REQS = ['none', 'optional', 'required'] as const;

/** A value of `certReqs`. */
export type CertReqs = (typeof CERT_REQS)[number];

/** The TLS settings of a config. */
export interface TlsConfig {
  certfile: string | null;
  keyfile: string | null;
  caCerts: string | null;
  certReqs: CertReqs;
  http2: boolean;
}

/** What a TLS server is created with: the files' contents and the client-certificate policy. */
export interface TlsServerOptions extends SecureContextOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Checks `certReqs`: a name, or gunicorn's number (0, 1, 2). */
export function checkCertReqs(value: unknown): CertReqs {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < CERT_REQS.length) return CERT_REQS[value]!;
  if (typeof value === 'string' && (CERT_REQS as readonly string[]).includes(value)) return value as CertReqs;
  throw configError('certReqs', `one of ${CERT_REQS.map((r) => `"${r}"`).join(', ')} (or gunicorn's 0, 1, 2)`, value);
}

function read(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ArbiterError('ARBITER_ERR_CONFIG', `Cannot read \`${option}\` ${file}: ${e.code ?? e.message}${e.code === 'EACCES' ? ' (the master and the workers must be able to read it: check its mode and --user)' : ''}`);
  }
}

/**
 * The options of a TLS server from the config's files (read now), checked by building a secure
 * context from them; `undefined` when the config has no TLS.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the option and the file.
 */
export function loadTls(config: TlsConfig): TlsServerOptions | undefined {
  const { certfile, keyfile, caCerts, certReqs } = config;
  if (certfile === null && keyfile === null) {
    if (config.http2) throw new ArbiterError('ARBITER_ERR_CONFIG', '`http2` needs TLS: give `certfile` and `keyfile` (clients speak HTTP/2 over TLS, with ALPN)');
    if (caCerts !== null || certReqs !== 'none') throw new ArbiterError('ARBITER_ERR_CONFIG', '`caCerts` and `certReqs` need TLS: give `certfile` and `keyfile`');
    return undefined;
  }
  if (certfile === null || keyfile === null) {
    throw new ArbiterError('ARBITER_ERR_CONFIG', `\`${certfile === null ? 'keyfile' : 'certfile'}\` is given without \`${certfile === null ? 'certfile' : 'keyfile'}\`: TLS needs both (--certfile and --keyfile)`);
  }
  if (certReqs !== 'none' && caCerts === null) {
    throw new ArbiterError('ARBITER_ERR_CONFIG', `\`certReqs: '${certReqs}'\` needs \`caCerts\`: the CA certificates that client certificates are checked against`);
  }
  const options: TlsServerOptions = {
    cert: read('certfile', certfile),
    key: read('keyfile', keyfile),
    ...(caCerts === null ? {} : { ca: read('caCerts', caCerts) }),
    requestCert: certReqs !== 'none',
    rejectUnauthorized: certReqs === 'required',
  };
  try {
    createSecureContext(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { reason?: string };
    const what = /KEY_VALUES_MISMATCH|key values mismatch/i.test(`${e.code} ${e.message}`)
      ? `the key in \`keyfile\` ${keyfile} does not belong to the certificate in \`certfile\` ${certfile}`
      : /PEM|no start line|bad base64|ASN1|DECODER/i.test(`${e.code} ${e.message}`)
        ? `${whichFile(e, config)} is not a PEM ${/key/i.test(e.message) ? 'private key' : 'certificate'} (${e.message})`
        : `${certfile} / ${keyfile}${caCerts ? ` / ${caCerts}` : ''}: ${e.message}`;
    throw new ArbiterError('ARBITER_ERR_CONFIG', `TLS: ${what}`);
  }
  return options;
}

/** The file an OpenSSL error is most likely about. */
function whichFile(err: Error, config: TlsConfig): string {
  const stack = err.stack ?? '';
  if (/setKey|key/i.test(stack) && !/setCert|addCACert/.test(stack)) return `\`keyfile\` ${config.keyfile}`;
  if (/addCACert|ca/i.test(stack) && config.caCerts && !/setCert/.test(stack)) return `\`caCerts\` ${config.caCerts}`;
  return `\`certfile\` ${config.certfile}`;
}
