import { defineConfig } from '@playwright/test';
import { ADMIN_STORAGE } from './global-setup';

// The console under test is started by global-setup.ts on a free loopback port with its own
// temporary SQLite file; tests read its URL from PALISADE_E2E_URL.
export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  workers: 1,
  reporter: [['list']],
  use: {
    // Debian's Chromium: Playwright never downloads a browser here.
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
    permissions: ['clipboard-read', 'clipboard-write'],
    // Signed in as the admin (global-setup.ts); the auth spec starts from nothing.
    storageState: ADMIN_STORAGE,
    trace: 'retain-on-failure',
  },
});
