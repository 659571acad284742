import { test, expect } from '@playwright/test';
import { hydrated, pageErrors, visit } from './console';
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';

// A real palisade-defender against the console global-setup.ts started (heartbeat 1 s), with a
// small fake ECS task metadata endpoint (v4) served from this test.

function fakeMetadata(family: string): Promise<{ url: string; server: Server }> {
  const task = {
    Cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/e2e', TaskARN: `arn:aws:ecs:eu-west-1:123456789012:task/e2e/${family}-task-0001`,
    Family: family, Revision: '3', AvailabilityZone: 'eu-west-1c', LaunchType: 'FARGATE',
    Containers: [{ Name: 'web', Image: 'nginx:1.27', DockerId: 'web-id' }, { Name: 'palisade-defender', Image: 'palisade/defender:1', DockerId: 'defender-id' }],
  };
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(task));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    resolve({ url: `http://127.0.0.1:${port}`, server });
  }));
}

function startDefender(token: string, metadataUrl: string, localPort: number): ChildProcess {
  return spawn(process.env.PALISADE_E2E_DEFENDER_BIN!, ['run'], {
    env: {
      ...process.env,
      PALISADE_CONSOLE_URL: process.env.PALISADE_E2E_DEFENDER_URL!,
      PALISADE_TOKEN: token,
      PALISADE_VOLUME: join(process.env.PALISADE_E2E_DATA_DIR!, 'defender-volume'),
      // Its kept policy goes to the test's directory, not the machine's /var/lib/palisade.
      PALISADE_STATE_DIR: join(process.env.PALISADE_E2E_DATA_DIR!, 'defender-state'),
      PALISADE_LOCAL_ADDR: `127.0.0.1:${localPort}`,
      ECS_CONTAINER_METADATA_URI_V4: `${metadataUrl}/v4/defender-id`,
    },
    stdio: 'inherit',
  });
}

test('a running defender shows on the dashboard, ticks, and turns disconnected when stopped', async ({ page }) => {
  const errors = pageErrors(page);

  // A token for the family, created in Settings (its value is shown once).
  await visit(page, '/settings', 'settings');
  await page.getByTestId('token-family').fill('e2e-dash');
  await page.getByTestId('token-create').click();
  const token = (await page.getByTestId('new-token-value').textContent())!.trim();
  expect(token).toMatch(/^pal_[0-9a-f]{64}$/);
  const tokenRow = page.getByTestId('token-row').filter({ hasText: 'e2e-dash' });
  await expect(tokenRow).toContainText('never');

  const metadata = await fakeMetadata('e2e-dash');
  const defender = startDefender(token, metadata.url, 20_000 + Math.floor(Math.random() * 20_000));
  try {
    await page.getByRole('link', { name: 'Defenders', exact: true }).click();
    await hydrated(page, 'defenders');
    // It appears without a reload.
    const row = page.getByTestId('defender-row').filter({ hasText: 'e2e-dash:3' });
    await expect(row).toHaveClass(/status-connected/);
    await expect(row).toContainText('e2e');
    await expect(row).toContainText('eu-west-1c');
    await expect(row).toContainText('web');
    await expect(page.getByTestId('console-health')).toContainText(/[1-9]\d* \/ \d+ defenders connected/);

    // "connected for" ticks.
    const since = row.getByTestId('since');
    await expect(since).toContainText('connected for');
    const first = await since.textContent();
    await expect(since).not.toHaveText(first!, { timeout: 5_000 });

    // Its page: identity, containers, process timeline.
    await row.getByRole('link', { name: 'e2e-dash:3' }).click();
    await expect(page.locator('dl.identity')).toContainText('e2e-dash-task-0001');
    await expect(page.locator('section.defender')).toContainText('nginx:1.27');
    await expect(page.getByTestId('timeline').locator('tr.event.process_started').first()).toBeVisible();
    await page.getByRole('link', { name: '← Defenders' }).click();

    // Stopped: it turns disconnected on the open page, live.
    await expect(row).toHaveClass(/status-connected/);
    defender.kill('SIGTERM');
    await expect(row).toHaveClass(/status-disconnected/, { timeout: 10_000 });
    await expect(row.getByTestId('since')).toContainText('disconnected');

    // Filters: connected hides it, disconnected shows it; the search finds it by AZ.
    await page.getByTestId('status-filter').selectOption('connected');
    await expect(page.getByTestId('defender-row').filter({ hasText: 'e2e-dash:3' })).toHaveCount(0);
    await page.getByTestId('status-filter').selectOption('disconnected');
    await page.getByTestId('search').fill('eu-west-1c');
    await expect(page.getByTestId('defender-row').filter({ hasText: 'e2e-dash:3' })).toHaveCount(1);
    await page.getByTestId('search').fill('no-such-thing');
    await expect(page.getByTestId('no-defenders')).toBeVisible();

    // The token now shows when it was last used. Last use is written every 5 s (in batches) and
    // the Settings page reads the tokens once, so it is looked at again until the write landed.
    await expect(async () => {
      await visit(page, '/settings', 'settings');
      await expect(page.getByTestId('token-row').filter({ hasText: 'e2e-dash' })).not.toContainText('never', { timeout: 1_000 });
    }).toPass({ timeout: 20_000 });
  } finally {
    defender.kill('SIGKILL');
    metadata.server.close();
  }
  expect(errors).toEqual([]);
});

test('leaving the Defenders page stops its timers', async ({ page }) => {
  const errors = pageErrors(page);
  // Every interval the page starts and has not cleared (Leptos calls window.setInterval and
  // window.clearInterval by name, so wrapping them sees the app's own timers).
  await page.addInitScript(() => {
    const live = new Set<number>();
    (window as unknown as { liveIntervals: Set<number> }).liveIntervals = live;
    const set = window.setInterval.bind(window);
    const clear = window.clearInterval.bind(window);
    window.setInterval = ((handler: TimerHandler, timeout?: number, ...rest: unknown[]) => {
      const id = set(handler, timeout, ...rest);
      live.add(id);
      return id;
    }) as typeof window.setInterval;
    window.clearInterval = ((id?: number) => {
      if (id !== undefined) live.delete(id);
      clear(id);
    }) as typeof window.clearInterval;
  });
  const liveIntervals = () =>
    page.evaluate(() => (window as unknown as { liveIntervals: Set<number> }).liveIntervals.size);

  await visit(page, '/settings', 'settings');
  const before = await liveIntervals();
  for (let visitNumber = 0; visitNumber < 5; visitNumber++) {
    await page.getByRole('link', { name: 'Defenders', exact: true }).click();
    await hydrated(page, 'defenders');
    // The page's own timers run while it is shown: the ticking clock and the charts' minute
    // (the table is asked again when the console pushes a change, not on a timer).
    expect(await liveIntervals()).toBe(before + 2);
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await hydrated(page, 'settings');
  }
  expect(await liveIntervals()).toBe(before);
  expect(errors).toEqual([]);
});

// Rows written straight into the console's database (python3's sqlite3; the console reads them
// like any others): many defenders, and one whose process has a command line with a 6,000-character
// argument (no space to break at).
function seedDefenders(count: number): number {
  const script = `
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
def add(family):
    cursor = db.execute(
        "INSERT INTO defenders (task_arn, cluster, family, revision, availability_zone, launch_type, containers, version, mode, instance, connection, first_seen, connected_since, last_seen, disconnected_at)"
        " VALUES (?, 'e2e', ?, '1', 'eu-west-1a', 'FARGATE', '[]', '0.1.0', 'availability', 'i', 'c', ?, ?, ?, ?)",
        (f"arn:aws:ecs:eu-west-1:123456789012:task/e2e/{family}", family, now, now, now, now))
    return cursor.lastrowid
for n in range(int(sys.argv[2])):
    add(f"e2e-page-{n:02}")
long = add("e2e-long-command")
event = {"seq": 1, "at_ms": now, "event": "process_started", "pid": 7, "ppid": 1, "uid": 0,
         "executable": "/bin/app", "command_line": "app --flag=value --blob=" + "x" * 6000}
db.execute("INSERT INTO defender_events (defender_id, instance, seq, at, kind, pid, detail) VALUES (?, 'i', 1, ?, 'process_started', 7, ?)",
           (long, now, json.dumps(event)))
db.commit()
print(long)
`;
  const out = execFileSync('python3', ['-c', script, join(process.env.PALISADE_E2E_DATA_DIR!, 'palisade.db'), String(count)]);
  return Number(out.toString().trim());
}

test('the pager reaches every page, and a long command line stays inside its cell', async ({ page }) => {
  const errors = pageErrors(page);
  const longId = seedDefenders(55);
  await visit(page, '/defenders', 'defenders');
  const next = page.getByTestId('page-next');
  // The label is the word, not the closure's source; it works.
  await expect(next).toHaveText('Next');
  await expect(page.getByTestId('page-previous')).toBeDisabled();
  await expect(page.getByTestId('page-label')).toContainText(/page 1 of [2-9]/);
  const firstPage = await page.getByTestId('defender-row').first().textContent();
  await next.click();
  await expect(page.getByTestId('page-label')).toContainText(/page 2 of/);
  await expect(page.getByTestId('defender-row').first()).not.toHaveText(firstPage!);
  await page.getByTestId('page-previous').click();
  await expect(page.getByTestId('page-label')).toContainText(/page 1 of/);

  await visit(page, `/defenders/${longId}`, 'defender');
  await expect(page.getByTestId('timeline')).toContainText('--flag=value');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  expect(errors).toEqual([]);
});

test('Export CSV downloads what the filters select, every page of it', async ({ page }) => {
  const errors = pageErrors(page);
  await visit(page, '/defenders', 'defenders');
  await page.getByTestId('status-filter').selectOption('disconnected');
  await page.getByTestId('sort').selectOption('family');
  const link = page.getByTestId('export-csv');
  await expect(link).toHaveAttribute('href', /status=disconnected.*sort=family/);
  const downloading = page.waitForEvent('download');
  await link.click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('palisade-defenders.csv');
  const text = require('node:fs').readFileSync(await download.path(), 'utf8') as string;
  const lines = text.trim().split('\n');
  expect(lines[0]).toMatch(/^id,status,family,/);
  // More rows than one page of the table (the pager test seeded 55), all disconnected.
  expect(lines.length - 1).toBeGreaterThan(50);
  expect(lines.slice(1).every((line) => line.split(',')[1] === 'disconnected')).toBe(true);
  expect(errors).toEqual([]);
});

test('the charts draw the last 24 hours by family, and events per minute', async ({ page }) => {
  const errors = pageErrors(page);
  // Two hours ago, in one minute: two families' defenders and their events (the console's own
  // samples of the other tests are far smaller).
  const script = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
minute = (int(time.time() * 1000) // 60000 - 120) * 60000
for family, connected, events in [("e2e-chart-a", 4000, 600), ("e2e-chart-b", 3000, 0)]:
    db.execute("INSERT OR REPLACE INTO defender_minutes (minute, family, connected, events) VALUES (?, ?, ?, ?)",
               (minute, family, connected, events))
db.commit()
`;
  execFileSync('python3', ['-c', script, join(process.env.PALISADE_E2E_DATA_DIR!, 'palisade.db')]);
  // The console computes the charts at most every 15 s (the samples change once a minute): the
  // page may need asking again to see rows written behind its back.
  const connected = page.getByTestId('chart-connected');
  await expect(async () => {
    await visit(page, '/defenders', 'defenders');
    await expect(connected).toContainText('Connected defenders by family', { timeout: 1_000 });
    // Stacked: the highest point is both families together.
    await expect(connected).toHaveAttribute('data-highest', '7000', { timeout: 1_000 });
  }).toPass({ timeout: 40_000 });
  // The biggest family comes first.
  await expect(connected.getByTestId('legend-item').first()).toContainText('e2e-chart-a');
  await expect(connected.getByTestId('legend-item').nth(1)).toContainText('e2e-chart-b');
  await expect(connected.locator('polygon.series')).toHaveCount(await connected.getByTestId('legend-item').count());
  // 600 events in one minute of a 5-minute bucket: 120 a minute on average.
  await expect(page.getByTestId('chart-events')).toHaveAttribute('data-highest', '120');
  await expect(page.getByTestId('chart-events').locator('svg')).toHaveAttribute('aria-label', /Events per minute/);
  expect(errors).toEqual([]);
});

test('a hidden tab lets go of its update stream and takes a new one when shown', async ({ page }) => {
  const errors = pageErrors(page);
  // Every EventSource the page opens (the app uses one per tab for pushed updates).
  await page.addInitScript(() => {
    const opened: EventSource[] = [];
    (window as unknown as { sources: EventSource[] }).sources = opened;
    const Original = window.EventSource;
    window.EventSource = class extends Original {
      constructor(url: string | URL, init?: EventSourceInit) {
        super(url, init);
        opened.push(this);
      }
    } as typeof EventSource;
  });
  await visit(page, '/defenders', 'defenders');
  const states = () =>
    page.evaluate(() => (window as unknown as { sources: EventSource[] }).sources.map((source) => source.readyState));
  await expect.poll(states).toEqual([1]);
  const setHidden = (hidden: boolean) =>
    page.evaluate((hidden) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
  await setHidden(true);
  await expect.poll(states).toEqual([2]);
  await setHidden(false);
  await expect.poll(states).toEqual([2, 1]);
  expect(errors).toEqual([]);
});
