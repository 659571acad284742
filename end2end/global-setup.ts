import { spawn, execFileSync, ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The admin's signed-in browser state (cookies), written by the setup for playwright.config.ts. */
export const ADMIN_STORAGE = join(__dirname, '.auth', 'admin.json');

/** The password of the operator (olivia) and the viewer (victor) the setup adds. */
export const E2E_PASSWORD = 'e2e correct horse battery';

// A port free right now on 127.0.0.1, for moto (which cannot be handed a bound socket).
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

async function waitForPort(port: number, what: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); done(true); });
      socket.on('error', () => done(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on port ${port} within 30 s`);
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

// Starts moto's AWS server (ECS, ECR, Secrets Manager) and `palisade serve` (on 127.0.0.1:0, a free port, with a fresh
// database and dummy AWS credentials pointing at moto), waits until both listen, and stops them
// after the run. Tests read PALISADE_E2E_URL, PALISADE_E2E_DEFENDER_URL, PALISADE_E2E_MOTO_URL,
// PALISADE_E2E_AWS_ENV, PALISADE_E2E_BIN, PALISADE_E2E_DEFENDER_BIN, PALISADE_E2E_DATA_DIR,
// PALISADE_E2E_REGISTRY and PALISADE_E2E_ADMIN_PASSWORD; ADMIN_STORAGE holds the admin's
// signed-in browser state, which every spec but the auth spec starts from.
export default async function globalSetup() {
  const repo = resolve(__dirname, '..');
  const targetDir = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');
  const binary = process.env.PALISADE_BIN ?? join(targetDir, 'debug', 'palisade');
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-e2e-'));

  const motoPort = await freePort();
  const moto = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(motoPort)], {
    stdio: 'ignore',
  });
  moto.on('error', (error) => { throw new Error(`python3 -m moto.server: ${error.message} (scripts/setup --test installs moto)`); });
  await waitForPort(motoPort, "moto's server (scripts/setup --test installs moto[server])", moto);
  const motoUrl = `http://127.0.0.1:${motoPort}`;

  // A loopback registry (Debian's docker-registry) with one image built by umoci and pushed by
  // skopeo, for entrypoints read from a registry.
  const registryPort = await freePort();
  writeFileSync(join(dataDir, 'registry.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dataDir, 'registry')}\nhttp:\n  addr: 127.0.0.1:${registryPort}\n`);
  const registry = spawn('docker-registry', ['serve', join(dataDir, 'registry.yml')], { stdio: 'ignore' });
  await waitForPort(registryPort, 'docker-registry (scripts/setup --test installs it)', registry);
  const layout = join(dataDir, 'layout');
  execFileSync('umoci', ['init', '--layout', layout]);
  execFileSync('umoci', ['new', '--image', `${layout}:web`]);
  execFileSync('umoci', ['config', '--image', `${layout}:web`, '--config.entrypoint', '/docker-entrypoint.sh',
    '--config.cmd', 'nginx', '--config.cmd', '-g', '--config.cmd', 'daemon off;']);
  execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:web`,
    `docker://127.0.0.1:${registryPort}/e2e/web:1`]);

  // Only dummy credentials reach the console: the machine's own AWS set-up must not leak in.
  const awsEnv: Record<string, string> = {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_ECS: motoUrl,
    AWS_ENDPOINT_URL_ECR: motoUrl,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: motoUrl,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  const inherited = { ...process.env };
  for (const name of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL']) delete inherited[name];

  // The OpenID provider for single sign-on, and the console's port fixed beforehand: the provider
  // must know where it sends people back to.
  const consolePort = await freePort();
  const oidcPort = await freePort();
  const oidc = spawn('node', [join(__dirname, 'oidc-provider.mjs'), String(oidcPort),
    `http://127.0.0.1:${consolePort}/auth/oidc/callback`], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitForPort(oidcPort, 'the OpenID provider (npm oidc-provider)', oidc);

  const server = spawn(binary, ['serve'], {
    env: {
      ...inherited,
      ...awsEnv,
      PALISADE_ADDR: `127.0.0.1:${consolePort}`,
      PALISADE_PUBLIC_URL: `http://127.0.0.1:${consolePort}`,
      PALISADE_DEFENDER_ADDR: '127.0.0.1:0',
      PALISADE_OIDC_ISSUER: `http://127.0.0.1:${oidcPort}`,
      PALISADE_OIDC_CLIENT_ID: 'palisade',
      PALISADE_OIDC_CLIENT_SECRET_REF: 'env:PALISADE_E2E_OIDC_SECRET',
      PALISADE_E2E_OIDC_SECRET: 'e2e-client-secret',
      PALISADE_OIDC_ROLES: 'palisade-admins=admin,palisade-operators=operator',
      PALISADE_OIDC_SCOPES: 'openid profile groups',
      PALISADE_DATABASE_URL: `sqlite://${join(dataDir, 'palisade.db')}`,
      // Fast heartbeats so a silent defender turns disconnected within seconds.
      PALISADE_HEARTBEAT_SECS: '1',
      PALISADE_SITE_ROOT: join(repo, 'target', 'site'),
      RUST_LOG: 'warn,palisade_server=info',
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });

  // Both listeners' addresses and the first admin's generated password, from the console's log.
  const started = await new Promise<{ url: string; defenderUrl: string; password: string }>((resolveStart, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`palisade serve did not start within 30 s:\n${log}`)), 30_000);
    server.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log += text;
      process.stderr.write(text.replace(/with the password \S+/, 'with the password (hidden)'));
      const url = log.match(/reach the console at (http:\/\/127\.0\.0\.1:\d+)/);
      const defenderUrl = log.match(/defenders connect to (http:\/\/127\.0\.0\.1:\d+)/);
      const password = log.match(/with the password (\S+)/);
      if (url && defenderUrl && password) {
        clearTimeout(timer);
        resolveStart({ url: url[1], defenderUrl: defenderUrl[1], password: password[1] });
      }
    });
    server.on('exit', (code) => reject(new Error(`palisade serve exited with ${code} (${binary}):\n${log}`)));
  });
  const url = started.url;

  // An operator and a viewer beside the admin, added as an admin would on the command line.
  const database = `sqlite://${join(dataDir, 'palisade.db')}`;
  for (const [name, role] of [['olivia', 'operator'], ['victor', 'viewer']]) {
    execFileSync(binary, ['user', 'add', name, '--role', role], {
      input: `${E2E_PASSWORD}\n`,
      env: { ...process.env, PALISADE_DATABASE_URL: database },
    });
  }

  // The specs run signed in as the admin (the auth spec starts from nothing): one sign-in here,
  // its session cookie shared through Playwright's storage state.
  const response = await fetch(`${url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: started.password }),
  });
  if (response.status !== 200) throw new Error(`signing in as admin: ${response.status} ${await response.text()}`);
  const cookie = response.headers.get('set-cookie')!.split(';')[0].split('=');
  mkdirSync(dirname(ADMIN_STORAGE), { recursive: true });
  writeFileSync(ADMIN_STORAGE, JSON.stringify({
    cookies: [{
      name: cookie[0], value: cookie.slice(1).join('='), domain: '127.0.0.1', path: '/',
      expires: -1, httpOnly: true, secure: false, sameSite: 'Strict',
    }],
    origins: [],
  }));
  process.env.PALISADE_E2E_ADMIN_PASSWORD = started.password;
  process.env.PALISADE_E2E_DEFENDER_URL = started.defenderUrl;
  process.env.PALISADE_E2E_URL = url;
  process.env.PALISADE_E2E_MOTO_URL = motoUrl;
  process.env.PALISADE_E2E_AWS_ENV = JSON.stringify(awsEnv);
  process.env.PALISADE_E2E_BIN = binary;
  process.env.PALISADE_E2E_DEFENDER_BIN = process.env.PALISADE_DEFENDER_BIN ?? join(targetDir, 'debug', 'palisade-defender');
  process.env.PALISADE_E2E_DATA_DIR = dataDir;
  process.env.PALISADE_E2E_REGISTRY = `127.0.0.1:${registryPort}`;

  return async () => {
    server.kill('SIGTERM');
    oidc.kill('SIGTERM');
    moto.kill('SIGTERM');
    registry.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  };
}
