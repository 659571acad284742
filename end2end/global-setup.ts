import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Starts `palisade serve` on 127.0.0.1:0 (a free port) with a fresh database, waits until it
// says where it listens, and stops it after the run.
export default async function globalSetup() {
  const repo = resolve(__dirname, '..');
  const targetDir = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');
  const binary = process.env.PALISADE_BIN ?? join(targetDir, 'debug', 'palisade');
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-e2e-'));
  const server = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      PALISADE_ADDR: '127.0.0.1:0',
      PALISADE_DATABASE_URL: `sqlite://${join(dataDir, 'palisade.db')}`,
      PALISADE_SITE_ROOT: join(repo, 'target', 'site'),
      RUST_LOG: 'warn,palisade_server=info',
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });

  const url = await new Promise<string>((resolveUrl, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`palisade serve did not start within 30 s:\n${log}`)), 30_000);
    server.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log += text;
      process.stderr.write(text);
      const match = log.match(/listens on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    server.on('exit', (code) => reject(new Error(`palisade serve exited with ${code} (${binary}):\n${log}`)));
  });
  process.env.PALISADE_E2E_URL = url;

  return async () => {
    server.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  };
}
